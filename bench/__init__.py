"""Benchmarks: speed and memory targets, each printing a ratio against a baseline
measured in the same run. Not tests: they never assert on wall time.
Run all with ``make bench`` (``python -m bench``) or one with ``python -m bench NAME``.
"""
