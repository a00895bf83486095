"""Measuring answer quality: datasets, baselines, metrics, the eval loop and prompt optimization.

The harness sits above `graph`: it runs the compiled LongCePO graph and, for baselines, single
calls through `nodes.llm`, so retries and usage are counted the same way everywhere.
"""
