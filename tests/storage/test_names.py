"""Object names and bucket ids the store accepts, and listing prefixes (pure)."""

import pytest

from gptdesk.storage.errors import StorageError
from gptdesk.storage.names import (
    MAX_NAME_BYTES,
    check_bucket_id,
    check_object_name,
    prefix_of,
    split_path,
)


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "a.txt",
        "team/documents/handbook.pdf",
        "folder/with space/résumé (1).pdf",
        "dots.in.name/..hidden/file..txt",
        "...",
        "a/.b",
        "emoji/📄.txt",
        "n" * MAX_NAME_BYTES,
    ],
)
def test_names_accepted(name: str) -> None:
    assert check_object_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("/a.txt", "Invalid key"),
        ("a/", "Invalid key"),
        ("a//b", "Invalid key"),
        ("./a", "Invalid key"),
        ("a/./b", "Invalid key"),
        ("a/..", "Invalid key"),
        ("..", "Invalid key"),
        ("../etc/passwd", "Invalid key"),
        ("a/../../b", "Invalid key"),
        ("a\\..\\b", "Invalid key"),
        ("a\x00b", "control characters"),
        ("a\nb", "control characters"),
        ("a\x1fb", "control characters"),
        ("a\x7fb", "control characters"),
        ("n" * (MAX_NAME_BYTES + 1), "longer than 1024 bytes"),
        ("é" * (MAX_NAME_BYTES // 2 + 1), "longer than 1024 bytes"),  # 1,026 bytes, 513 chars
    ],
)
def test_names_refused(name: str, why: str) -> None:
    with pytest.raises(StorageError) as caught:
        check_object_name(name)
    assert (caught.value.status, caught.value.code) == (400, "InvalidKey")
    assert why in caught.value.message


@pytest.mark.parametrize("bucket", ["gpt-desk-files", "a", "A_b.c-1", "x" * 100, "..."])
def test_bucket_ids_accepted(bucket: str) -> None:
    assert check_bucket_id(bucket) == bucket


@pytest.mark.parametrize("bucket", ["", ".", "..", "a/b", "a b", "ü", "x" * 101, "a\x00"])
def test_bucket_ids_refused(bucket: str) -> None:
    with pytest.raises(StorageError) as caught:
        check_bucket_id(bucket)
    assert (caught.value.status, caught.value.code) == (400, "InvalidBucketName")


def test_split_path() -> None:
    assert split_path("docs/team/a.txt") == ("docs", "team/a.txt")
    with pytest.raises(StorageError):
        split_path("docs")
    with pytest.raises(StorageError):
        split_path("docs/../x")
    with pytest.raises(StorageError):
        split_path("a b/x")


@pytest.mark.parametrize(
    ("prefix", "normal"),
    [("", ""), ("/", ""), ("a", "a/"), ("a/", "a/"), ("/a/b/", "a/b/"), ("a/b c", "a/b c/")],
)
def test_prefixes(prefix: str, normal: str) -> None:
    assert prefix_of(prefix) == normal


@pytest.mark.parametrize("prefix", ["..", "a/../b", "a//b", "./a", "a/.", "a\x00", "a\nb"])
def test_prefixes_refused(prefix: str) -> None:
    with pytest.raises(StorageError) as caught:
        prefix_of(prefix)
    assert caught.value.code == "InvalidKey"
