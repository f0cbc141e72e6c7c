"""Secrets at rest: sealing opens only with the same key, purpose and context."""

import pytest

from gptdesk.auth.sealing import SealError, seal, unseal

KEY = "k" * 40


def test_a_sealed_value_opens_and_hides_its_plaintext() -> None:
    sealed = seal(KEY, "purpose", "JBSWY3DPEHPK3PXP", "row-1")
    assert sealed.startswith("v1.") and "JBSWY3DPEHPK3PXP" not in sealed
    assert unseal(KEY, "purpose", sealed, "row-1") == "JBSWY3DPEHPK3PXP"


def test_each_seal_uses_a_fresh_nonce() -> None:
    assert seal(KEY, "purpose", "same", "row-1") != seal(KEY, "purpose", "same", "row-1")


@pytest.mark.parametrize(
    ("key", "purpose", "context"),
    [("x" * 40, "purpose", "row-1"), (KEY, "other", "row-1"), (KEY, "purpose", "row-2")],
)
def test_another_key_purpose_or_row_does_not_open_it(key: str, purpose: str, context: str) -> None:
    sealed = seal(KEY, "purpose", "secret", "row-1")
    with pytest.raises(SealError):
        unseal(key, purpose, sealed, context)


@pytest.mark.parametrize("sealed", ["", "plain", "v2.abc", "v1.!!!", "v1.AAAA"])
def test_malformed_values_are_refused(sealed: str) -> None:
    with pytest.raises(SealError):
        unseal(KEY, "purpose", sealed, "row-1")


def test_a_flipped_bit_is_refused() -> None:
    sealed = seal(KEY, "purpose", "secret", "row-1")
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(SealError):
        unseal(KEY, "purpose", flipped, "row-1")
