"""/api/v1/documents: a team's files — the stored object and its documents row, together."""
