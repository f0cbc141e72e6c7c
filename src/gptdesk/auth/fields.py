"""Checks of the fields clients send to the auth endpoints, and refresh-token primitives."""

import hashlib
import re
import secrets

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


def check_email(email: object) -> str:
    """A trimmed, plausible address, or the GoTrue error for it."""
    if not isinstance(email, str) or not email.strip():
        raise validation_failed("missing email or phone")
    email = email.strip()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.match(email):
        raise AuthError(
            400, "email_address_invalid", "Unable to validate email address: invalid format"
        )
    return email.lower()


def check_password_field(password: object, what: str) -> str:
    """The password string, or validation_failed naming the flow."""
    if not isinstance(password, str) or not password:
        raise validation_failed(f"{what} requires a valid password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise validation_failed(f"Password cannot be longer than {MAX_PASSWORD_LENGTH} characters")
    return password
