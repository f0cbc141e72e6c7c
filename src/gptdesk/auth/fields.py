"""Checks of the fields clients send to the auth endpoints, and refresh-token primitives."""

import hashlib
import re
import secrets
from typing import Any

from gptdesk.auth.errors import AuthError, validation_failed

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL_LENGTH = 255
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; a megabyte would only cost us time


def hash_token(token: str) -> str:
    """How refresh tokens are stored: SHA-256, hex (they are random, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_refresh_token() -> str:
    """An opaque refresh token."""
    return secrets.token_urlsafe(24)


def has_nul(value: object) -> bool:
    """Whether a JSON value holds a NUL character anywhere (PostgreSQL stores none)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(item) for item in value)
    return False


def check_metadata(value: object, name: str = "data") -> dict[str, Any] | None:
    """A JSON object a client may store as metadata (or None), else validation_failed."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise validation_failed(f"{name} must be a JSON object")
    if has_nul(value):
        raise validation_failed(f"{name} must not contain NUL characters")
    return value


def check_email(email: object) -> str:
    """A trimmed, plausible address, or the GoTrue error for it."""
    if not isinstance(email, str) or not email.strip():
        raise validation_failed("missing email or phone")
    email = email.strip()
    printable = all(ch.isprintable() for ch in email)
    if len(email) > MAX_EMAIL_LENGTH or not printable or not _EMAIL.match(email):
        raise AuthError(
            400, "email_address_invalid", "Unable to validate email address: invalid format"
        )
    return email.lower()


def check_password_field(password: object, what: str) -> str:
    """The password string, or validation_failed naming the flow."""
    if not isinstance(password, str) or not password or "\x00" in password:
        raise validation_failed(f"{what} requires a valid password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise validation_failed(f"Password cannot be longer than {MAX_PASSWORD_LENGTH} characters")
    return password
