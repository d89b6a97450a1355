"""Benchmarks that measure the performance figures in one run and print each with its ratio and target."""
