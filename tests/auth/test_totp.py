"""TOTP codes and steps, and the QR code's SVG (pure functions, no server)."""

import re

import pyotp
import pytest
import segno

from gptdesk.auth import totp

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = 1_767_225_615.0  # 15 s into step 58_907_520


def test_codes_match_pyotp_and_the_rfc_parameters() -> None:
    reference = pyotp.TOTP(SECRET, digits=6, interval=30, digest="sha1")
    assert totp.code_at(SECRET, totp.current_step(NOW)) == reference.at(NOW)


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_a_code_of_the_step_either_side_matches_that_step(offset: int) -> None:
    step = totp.current_step(NOW) + offset
    assert totp.matching_step(SECRET, totp.code_at(SECRET, step), NOW) == step


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_codes_further_away_do_not_match(offset: int) -> None:
    code = totp.code_at(SECRET, totp.current_step(NOW) + offset)
    assert totp.matching_step(SECRET, code, NOW) is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "12 456"])
def test_malformed_codes_never_match(code: str) -> None:
    assert totp.matching_step(SECRET, code, NOW) is None


def test_surrounding_whitespace_is_forgiven() -> None:
    step = totp.current_step(NOW)
    assert totp.matching_step(SECRET, f" {totp.code_at(SECRET, step)}\n", NOW) == step


def test_new_secrets_are_160_bit_base32() -> None:
    secret = totp.new_secret()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret) and secret != totp.new_secret()


def test_provisioning_uri_names_issuer_and_account() -> None:
    uri = totp.provisioning_uri(SECRET, "alice@example.com", "desk.example")
    assert uri.startswith("otpauth://totp/desk.example:alice%40example.com?")
    assert f"secret={SECRET}" in uri and "issuer=desk.example" in uri


def _modules(svg: str, size: int) -> list[list[bool]]:
    """The dark modules an SVG of qr_svg draws, read back from its path."""
    grid = [[False] * size for _ in range(size)]
    for x, y, width in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", svg):
        for dx in range(int(width)):
            grid[int(y)][int(x) + dx] = True
    return grid


def test_the_svg_draws_exactly_the_qr_matrix() -> None:
    uri = totp.provisioning_uri(SECRET, "alice@example.com", "desk.example")
    svg = totp.qr_svg(uri)
    expected = [
        [bool(module) for module in row]
        for row in segno.make(uri, error="h", micro=False).matrix_iter(scale=1, border=4)
    ]
    size = len(expected)
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert f'viewBox="0 0 {size} {size}"' in svg
    assert _modules(svg, size) == expected


def test_the_svg_survives_a_data_uri_unescaped() -> None:
    """Clients prepend `data:image/svg+xml;utf-8,`: a `#` would cut the image short."""
    svg = totp.qr_svg("otpauth://totp/x:y?secret=" + SECRET)
    assert "#" not in svg and "\n" not in svg
