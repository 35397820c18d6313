"""authgate: a forward-auth gateway whose sessions live in a shared store."""

__version__ = "0.1.0"
