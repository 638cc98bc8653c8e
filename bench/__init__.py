"""Benchmarks: each script prints one JSON object and compares against a baseline run alongside."""
