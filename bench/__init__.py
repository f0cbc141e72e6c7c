"""Benchmarks of GPT Desk's hot paths; results are recorded in bench/RESULTS.md."""
