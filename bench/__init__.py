"""Benchmarks: speed and memory figures with their targets; see bench/README.md."""
