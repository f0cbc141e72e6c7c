"""Passwords: argon2id hashing off the event loop, and the configurable strength policy."""

import asyncio
import string
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's first argon2id setting: 19 MiB, 2 passes, 1 lane.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

_CLASSES = {
    "lower": (string.ascii_lowercase, "a lowercase letter"),
    "upper": (string.ascii_uppercase, "an uppercase letter"),
    "digit": (string.digits, "a digit"),
    "symbol": (string.punctuation, "a symbol"),
}


@dataclass(frozen=True)
class PasswordPolicy:
    """What a password must have; `problems` says what one lacks."""

    min_length: int = 8
    required_classes: tuple[str, ...] = ()

    def problems(self, password: str) -> tuple[list[str], str]:
        """GoTrue's weak_password reasons (`length`, `characters`) and a message, or ([], "")."""
        reasons: list[str] = []
        messages: list[str] = []
        if len(password) < self.min_length:
            reasons.append("length")
            messages.append(f"Password should be at least {self.min_length} characters.")
        missing = [
            label
            for name in self.required_classes
            for chars, label in [_CLASSES[name]]
            if not any(c in chars for c in password)
        ]
        if missing:
            reasons.append("characters")
            messages.append(f"Password should contain {', '.join(missing)}.")
        return reasons, " ".join(messages)


async def hash_password(password: str) -> str:
    """The argon2id hash of `password` (computed in a thread: it takes tens of ms)."""
    return await asyncio.to_thread(HASHER.hash, password)


@cache
def _decoy_hash() -> str:
    return HASHER.hash("gptdesk-decoy-password")


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches; an unknown user costs the same time as a known one."""
    target = stored_hash or _decoy_hash()
    try:
        matched = await asyncio.to_thread(HASHER.verify, target, password)
    except (VerificationError, InvalidHashError):
        return False
    return bool(matched) and stored_hash is not None
