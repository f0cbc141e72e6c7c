"""Where links in mails may send people: the site URL and an allow-list, as GoTrue has them.

A verification link ends in a redirect that carries a session in its fragment, so its
`redirect_to` must never be a place chosen by whoever asked for the mail. Anything not on
the site's own origin or matched by an allow-list pattern is replaced by the site URL.

Patterns are matched part by part, never as one string: the scheme and port exactly, the
host label by label (`*` stands for one label: `https://*.example.com` never matches
`evil.com/.example.com`), then the path as a glob (`https://app.example.com/*`).
"""

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def _origin(url: str) -> tuple[str, str] | None:
    """(scheme, host:port) of an http(s) URL, or None when it is not one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
        return None
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, f"{parts.hostname}:{port or default}"


def _host_matches(host: str, pattern: str) -> bool:
    """`*` matches exactly one DNS label; everything else literally, case-insensitive."""
    regex = r"\.".join(
        "[^.]+" if label == "*" else re.escape(label) for label in pattern.split(".")
    )
    return re.fullmatch(regex, host, flags=re.IGNORECASE) is not None


def _matches(url: str, pattern: str) -> bool:
    """Whether `url` fits the allow-list `pattern` (see the module's docstring)."""
    try:
        target, rule = urlsplit(url), urlsplit(pattern)
        target_port, rule_port = target.port, rule.port
    except ValueError:
        return False
    if target.scheme != rule.scheme or target.username or target.password:
        return False
    if target.scheme not in ("http", "https"):
        # An app's own scheme (myapp://callback) cannot reach a web page: glob the rest.
        return fnmatchcase(url, pattern)
    if not target.hostname or not rule.hostname:
        return False
    default = 443 if target.scheme == "https" else 80
    if (target_port or default) != (rule_port or default):
        return False
    if not _host_matches(target.hostname, rule.hostname):
        return False
    return not rule.path or fnmatchcase(target.path or "/", rule.path)


@dataclass(frozen=True)
class RedirectPolicy:
    """The site URL and the patterns other redirect targets must match."""

    site_url: str
    allowed: tuple[str, ...] = ()

    def allows(self, url: str) -> bool:
        """Whether `url` may be redirected to."""
        if not url or any(ch.isspace() or ord(ch) < 0x20 for ch in url) or "\\" in url:
            return False
        origin = _origin(url)
        if origin is not None and origin == _origin(self.site_url):
            return True
        return any(_matches(url, pattern) for pattern in self.allowed)

    def resolve(self, wanted: str | None) -> str:
        """`wanted` when allowed, else the site URL."""
        return wanted if wanted and self.allows(wanted) else self.site_url


def with_query(url: str, **params: str) -> str:
    """`url` with `params` added to (or replacing those in) its query string."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def with_fragment(url: str, **params: str) -> str:
    """`url` with its fragment replaced by `params`, form-encoded (how tokens are handed over)."""
    return urlunsplit(urlsplit(url)._replace(fragment=urlencode(params)))
