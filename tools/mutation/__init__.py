"""`make mutation` (docs/testing.md): the runner (__main__), the catalogue and the equivalents."""
