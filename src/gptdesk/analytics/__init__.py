"""Usage analytics from the daily rollups, cost analysis, dashboards and budgets."""
