"""Benchmarks and load scenarios; run by hand, never by the test suite."""
