"""The JSON GoTrue clients parse: User, Identity and Session objects (wire spec §1.2)."""

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from gptdesk.auth.tokens import AccessToken

# Omitted when null, as GoTrue does.
_OPTIONAL_TIMES = (
    "email_confirmed_at",
    "phone_confirmed_at",
    "confirmation_sent_at",
    "recovery_sent_at",
    "email_change_sent_at",
    "invited_at",
    "last_sign_in_at",
    "confirmed_at",
)


def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with microseconds, e.g. 2025-01-01T00:00:00.123456Z."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def identity_json(row: asyncpg.Record) -> dict[str, Any]:
    """One identity as GoTrue lists it."""
    return {
        "identity_id": str(row["id"]),
        "id": row["provider_id"],
        "user_id": str(row["user_id"]),
        "identity_data": row["identity_data"],
        "provider": row["provider"],
        "last_sign_in_at": timestamp(row["last_sign_in_at"]),
        "created_at": timestamp(row["created_at"]),
        "updated_at": timestamp(row["updated_at"]),
        "email": row["email"],
    }


def factor_json(row: asyncpg.Record) -> dict[str, Any]:
    """One MFA factor as GoTrue lists it on the user (never its secret)."""
    body: dict[str, Any] = {"id": str(row["id"])}
    if row["friendly_name"] is not None:
        body["friendly_name"] = row["friendly_name"]
    body.update(
        factor_type=row["factor_type"],
        status=row["status"],
        phone="",
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
        last_challenged_at=timestamp(row["last_challenged_at"]),
    )
    return body


def user_json(
    user: asyncpg.Record,
    identities: list[asyncpg.Record],
    factors: list[asyncpg.Record] | None = None,
) -> dict[str, Any]:
    """A User object: what GET /user returns and sessions carry (`factors` only if any)."""
    body: dict[str, Any] = {
        "id": str(user["id"]),
        "aud": user["aud"] or "authenticated",
        "role": user["role"] or "authenticated",
        "email": user["email"] or "",
        "phone": user["phone"] or "",
    }
    for name in _OPTIONAL_TIMES:
        if user[name] is not None:
            body[name] = timestamp(user[name])
    if user["email_change"]:
        body["new_email"] = user["email_change"]
    body.update(
        app_metadata=user["raw_app_meta_data"] or {},
        user_metadata=user["raw_user_meta_data"] or {},
        identities=[identity_json(row) for row in identities],
        created_at=timestamp(user["created_at"]),
        updated_at=timestamp(user["updated_at"]),
        is_anonymous=bool(user["is_anonymous"]),
    )
    if factors:
        body["factors"] = [factor_json(row) for row in factors]
    if user["banned_until"] is not None:
        body["banned_until"] = timestamp(user["banned_until"])
    return body


def session_json(access: AccessToken, refresh_token: str, user: dict[str, Any]) -> dict[str, Any]:
    """A Session object."""
    return {
        "access_token": access.token,
        "token_type": "bearer",
        "expires_in": access.expires_in,
        "expires_at": access.expires_at,
        "refresh_token": refresh_token,
        "user": user,
    }


def obfuscated_user_json(email: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """What GoTrue returns for a repeated sign-up without autoconfirm: a plausible stranger,
    shaped like a new unconfirmed user so the answer does not tell the two apart."""
    now = timestamp(datetime.now(UTC))
    return {
        "id": str(uuid.uuid4()),
        "aud": "authenticated",
        "role": "authenticated",
        "email": email,
        "phone": "",
        "confirmation_sent_at": now,
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {
            **metadata,
            "email": email,
            "email_verified": False,
            "phone_verified": False,
        },
        "identities": [],
        "created_at": now,
        "updated_at": now,
        "is_anonymous": False,
    }
