"""TOTP (RFC 6238) as GoTrue uses it, and the QR code an authenticator app scans.

SHA-1, 6 digits, 30-second steps, one step of clock skew either way. `matching_step` says
which step a code belongs to, so the caller can refuse a code whose step was used already.
"""

import hmac
import itertools
import time

import pyotp
import segno

PERIOD = 30
DIGITS = 6
SKEW = 1


def new_secret() -> str:
    """A random base32 secret of 160 bits (RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The otpauth:// URI authenticator apps read from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(
        name=account, issuer_name=issuer
    )


def current_step(now: float | None = None) -> int:
    """The TOTP time step of `now` (default: the current time)."""
    return int(time.time() if now is None else now) // PERIOD


def code_at(secret: str, step: int) -> str:
    """The code of one time step."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).generate_otp(step)


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The step within ±SKEW of now whose code is `code`, or None.

    Every candidate is compared (in constant time) so the answer takes as long whichever
    step matches, or none.
    """
    code = code.strip()
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    current = current_step(now)
    found = None
    for step in range(current - SKEW, current + SKEW + 1):
        if hmac.compare_digest(code_at(secret, step), code):
            found = step
    return found


def qr_svg(text: str, scale: int = 3, border: int = 4) -> str:
    """`text` as a QR code in SVG (error correction H, as GoTrue's).

    Clients put it after `data:image/svg+xml;utf-8,` unescaped, so it holds no `#` (which
    would end a data URI): colours are named, not hex.
    """
    code = segno.make(text, error="h", micro=False)
    size, _ = code.symbol_size(scale=1, border=border)
    runs = []
    for y, row in enumerate(code.matrix_iter(scale=1, border=border)):
        x = 0
        for dark, modules in itertools.groupby(row):
            width = len(list(modules))
            if dark:
                runs.append(f"M{x} {y}h{width}v1h-{width}z")
            x += width
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size * scale}" '
        f'height="{size * scale}" viewBox="0 0 {size} {size}" shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="white"/>'
        f'<path fill="black" d="{"".join(runs)}"/></svg>'
    )
