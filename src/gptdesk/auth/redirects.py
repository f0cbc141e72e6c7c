"""Where links in mails may send people: the site URL and an allow-list, as GoTrue has them.

A verification link ends in a redirect that carries a session in its fragment, so its
`redirect_to` must never be a place chosen by whoever asked for the mail. Anything not on
the site's own origin or matched by an allow-list pattern (`*` matches any run of
characters, e.g. `https://app.example.com/*`) is replaced by the site URL.
"""

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
        return any(fnmatchcase(url, pattern) for pattern in self.allowed)

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
