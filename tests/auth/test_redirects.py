"""Where mailed links may redirect: the site's origin and the allow-list, nothing else."""

import pytest

from gptdesk.auth.redirects import RedirectPolicy, with_fragment, with_query

POLICY = RedirectPolicy(
    "https://app.example.test", ("https://admin.example.test/*", "myapp://callback")
)


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example.test",
        "https://app.example.test/reset?step=2",
        "https://app.example.test:443/x",
        "https://admin.example.test/welcome",
        "myapp://callback",
    ],
)
def test_allowed(url: str) -> None:
    assert POLICY.allows(url) and POLICY.resolve(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.test/",
        "http://app.example.test/",  # another scheme is another origin
        "https://app.example.test.evil.test/",
        "https://app.example.test@evil.test/",
        "https://user@app.example.test/",
        "https://app.example.test:8443/",
        "https://admin.example.test.evil.test/",
        "https://app.example.test\\@evil.test/",
        "https://app.example.test/\nLocation: https://evil.test/",
        "javascript:alert(1)",
        "myapp://callback-evil",
        "",
    ],
)
def test_refused_targets_become_the_site_url(url: str) -> None:
    assert not POLICY.allows(url)
    assert POLICY.resolve(url) == "https://app.example.test"


def test_no_target_is_the_site_url() -> None:
    assert POLICY.resolve(None) == "https://app.example.test"


def test_query_and_fragment() -> None:
    assert with_query("https://a.test/p?x=1&t=old#f", t="new", e="a@b") == (
        "https://a.test/p?x=1&t=new&e=a%40b#f"
    )
    assert with_fragment("https://a.test/p?x=1#old", access_token="a.b", type="signup") == (
        "https://a.test/p?x=1#access_token=a.b&type=signup"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.com/.example.com/",
        "https://evil.com?.example.com/",
        "https://evil.com#.example.com/x",
        "https://app.example.com.evil.com/",
        "https://a.b.example.com/",
        "https://user@a.example.com/",
        "https://a.example.com:8443/",
        "http://a.example.com/",
    ],
)
def test_wildcard_patterns_cannot_be_stretched(url: str) -> None:
    policy = RedirectPolicy("https://desk.example.com", ("https://*.example.com/*",))
    assert not policy.allows(url)
    assert policy.allows("https://a.example.com/callback?x=1")
