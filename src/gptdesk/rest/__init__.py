"""The PostgREST-compatible data API: parse → plan → build SQL (pure) → execute → respond."""
