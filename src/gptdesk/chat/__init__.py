"""Chat beyond the data API: message search (and, next, the chat flow)."""
