"""Unit tests: pure logic and the ASGI app in process, no servers (docs/testing.md)."""
