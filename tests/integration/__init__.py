"""Integration tests: real Redis, real IdPs, real replicas, no proxy in front (docs/testing.md)."""
