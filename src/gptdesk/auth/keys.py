"""The project's API keys: long-lived anon and service-role JWTs signed with the JWT secret.

They are derived, not stored: the same secret always yields the same keys, so every
worker and host of a deployment hands out and accepts the same pair.
"""

from dataclasses import dataclass

import jwt

ISSUER = "gptdesk"
# Fixed timestamps keep the keys deterministic: 2025-01-01 to 2035-01-01.
_ISSUED_AT = 1735689600
_EXPIRES_AT = 2051222400


@dataclass(frozen=True)
class ProjectKeys:
    """The two keys clients put in `apikey` (and as Bearer until a user signs in)."""

    anon_key: str
    service_role_key: str


def project_key(secret: str, role: str) -> str:
    """The HS256 key JWT for `role` ('anon' or 'service_role')."""
    payload = {"iss": ISSUER, "role": role, "iat": _ISSUED_AT, "exp": _EXPIRES_AT}
    return jwt.encode(payload, secret, algorithm="HS256")


def project_keys(secret: str) -> ProjectKeys:
    """Both project keys for `secret`."""
    return ProjectKeys(project_key(secret, "anon"), project_key(secret, "service_role"))
