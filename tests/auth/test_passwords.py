"""Password hashing and the strength policy."""

import pytest

from gptdesk.auth.passwords import PasswordPolicy, hash_password, verify_password


async def test_hash_is_argon2id_and_verifies() -> None:
    hashed = await hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert await verify_password(hashed, "correct horse")
    assert not await verify_password(hashed, "wrong horse")


async def test_unknown_user_never_verifies() -> None:
    assert not await verify_password(None, "gptdesk-decoy-password")


async def test_garbage_hash_does_not_raise() -> None:
    assert not await verify_password("not-a-hash", "x")


@pytest.mark.parametrize(
    ("policy", "password", "reasons"),
    [
        (PasswordPolicy(8), "short", ["length"]),
        (PasswordPolicy(8), "long enough", []),
        (PasswordPolicy(8, ("upper", "digit")), "long enough", ["characters"]),
        (PasswordPolicy(8, ("upper", "digit")), "Long enough 1", []),
        (PasswordPolicy(12, ("symbol",)), "short", ["length", "characters"]),
    ],
)
def test_policy_reasons(policy: PasswordPolicy, password: str, reasons: list[str]) -> None:
    assert policy.problems(password)[0] == reasons
