"""Builds every service once from the settings, and rebuilds the rules and apps on reload."""
