"""Benchmarks are programs (`python -m tests.bench.NAME`), not tests: pytest skips this folder."""

collect_ignore_glob = ["*.py"]
