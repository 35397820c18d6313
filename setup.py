"""Build hook: ``AUTHGATE_COMPILE=1`` compiles the auth check's modules with mypyc.

The same typed source, turned into C extensions that sit beside the ``.py`` files and are imported
instead of them: the container image ships them (Dockerfile), ``make bench`` measures them against
the interpreted source, and ``make test`` runs the wire door's, the hot path's and the hostile tests
against them (tools/compiled.py). Without the variable, authgate installs as plain Python.
docs/performance.md says what this saves and why these modules.
"""

from __future__ import annotations

import os

from setuptools import setup

#: Every module an auth check answered from the cache runs, from bytes read to bytes written.
#: Nothing here may be monkeypatched, subclassed from outside or given undeclared attributes at
#: run time: mypyc's classes are closed.
COMPILED = [
    "authgate/lru.py",
    "authgate/access/forwarded.py",
    "authgate/access/paths.py",
    "authgate/access/policy.py",
    "authgate/access/request.py",
    "authgate/access/verdicts.py",
    "authgate/observability/metrics.py",
    "authgate/session/cache.py",
    "authgate/session/cookies.py",
    "authgate/session/tickets.py",
    "authgate/web/auth.py",
    "authgate/web/doors.py",
    "authgate/web/http11.py",
    "authgate/web/parse.py",
    "authgate/web/raw.py",
    "authgate/web/reading.py",
    "authgate/web/wire.py",
]

ext_modules = []
if os.environ.get("AUTHGATE_COMPILE") == "1":
    from mypyc.build import mypycify

    ext_modules = mypycify(COMPILED, opt_level="3")

setup(ext_modules=ext_modules)
