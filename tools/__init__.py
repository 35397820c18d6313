"""Tools for working on authgate (not part of the installed package): docs generation, mutation testing."""
