"""The `authgate` command: serve, check, sessions, rules explain, demo."""
