"""Authentication: keys and tokens (the GoTrue-compatible surface grows here)."""
