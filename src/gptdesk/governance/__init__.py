"""GPT governance: the approval workflow and risk overrides (the rules live in SQL, 0023)."""
