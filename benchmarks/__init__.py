"""Benchmarks of the pipeline against the local VOD service: ``make bench`` (see docs/benchmarks.md)."""
