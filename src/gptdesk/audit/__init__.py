"""The audit trail: hash-chain verification, export and retention."""
