"""Benchmarks that measure the figures of DESIGN §8 in one run and print each with its ratio and target."""
