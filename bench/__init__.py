"""Benchmarks of longcepo against the LLM double: `python -m bench.run` (see SUMMARY.md)."""
