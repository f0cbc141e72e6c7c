"""Go-style durations ("24h", "1h30m", "90s") as GoTrue's ban_duration takes them."""

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
MAX_SECONDS = 1000 * 365 * 86400  # a ban longer than a millennium is a typo


def parse_duration(text: str) -> timedelta:
    """The duration `text` names; ValueError for anything else."""
    text = text.strip()
    position = 0
    seconds = 0.0
    for match in _PART.finditer(text):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not text or position != len(text):
        raise ValueError(f"invalid duration {text!r}: use a number with h, m, s or ms, e.g. 24h")
    if seconds > MAX_SECONDS:
        raise ValueError(f"duration {text!r} is too long")
    return timedelta(seconds=seconds)
