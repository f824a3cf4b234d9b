"""Benchmarks: each prints a table and a last-line summary (run with python -m bench.NAME)."""
