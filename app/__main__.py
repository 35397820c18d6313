"""`python -m app` is the `authgate` command."""

from app.cli import main

raise SystemExit(main())
