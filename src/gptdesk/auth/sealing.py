"""Secrets at rest: AES-256-GCM under a key derived from the JWT secret.

The key is HKDF-SHA256 of the JWT secret with a purpose label, so each kind of sealed value
has its own key and none is the JWT secret itself. A sealed value is
`v1.` + base64url(nonce ‖ ciphertext ‖ tag); the caller's `context` (a row id) is the
associated data, so a value copied onto another row does not open. Changing the JWT secret
makes every sealed value unreadable.
"""

import base64
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1."
_NONCE_BYTES = 12
_TAG_BYTES = 16


class SealError(Exception):
    """A sealed value is malformed, or was sealed under another key or context."""


@lru_cache(maxsize=8)
def _cipher(secret: str, purpose: str) -> AESGCM:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"gptdesk/{purpose}".encode()
    ).derive(secret.encode())
    return AESGCM(key)


def seal(secret: str, purpose: str, plaintext: str, context: str) -> str:
    """`plaintext` sealed for `purpose`, bound to `context`."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = _cipher(secret, purpose).encrypt(nonce, plaintext.encode(), context.encode())
    return VERSION + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def unseal(secret: str, purpose: str, sealed: str, context: str) -> str:
    """The plaintext of a value `seal` made with the same secret, purpose and context."""
    if not sealed.startswith(VERSION):
        raise SealError("unknown sealed-value format")
    body = sealed[len(VERSION) :]
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
    except ValueError:
        raise SealError("sealed value is not base64url") from None
    if len(raw) < _NONCE_BYTES + _TAG_BYTES:
        raise SealError("sealed value is too short")
    nonce, ciphertext = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
    try:
        return _cipher(secret, purpose).decrypt(nonce, ciphertext, context.encode()).decode()
    except InvalidTag:
        raise SealError("sealed value does not open with this key and context") from None
