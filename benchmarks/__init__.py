"""Benchmarks for Turbo Studio: scripts that print tables, not timed tests. See benchmarks/README.md."""
