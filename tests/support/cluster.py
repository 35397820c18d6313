"""Several authgate replicas behind a real nginx round-robin upstream (no stickiness), with the
NPM snippet in front and a plain balancer port for server-to-server calls (back-channel logout)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.procs import free_port
from tests.support.servers import Gateway, nginx_server, start_gateway


@dataclass
class Cluster:
    replicas: list[Gateway]
    app_port: int  # nginx with the NPM snippet: http://app.test:<app_port>/
    lb_port: int  # nginx balancing straight to the replicas: http://lb.test:<lb_port>/
    tmp: Path
    env: dict[str, str]

    @property
    def origin(self) -> str:
        return f"http://app.test:{self.app_port}"

    def restart(self, index: int) -> None:
        old = self.replicas[index]
        old.proc.stop()
        self.replicas[index] = start_gateway(self.tmp, self.env, name=f"{old.proc.name}-r", port=old.port)


def upstream_block(ports: list[int]) -> str:
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in ports)
    return f"""
    upstream authgate_replicas {{
        # Plain round robin: no ip_hash, no sticky cookie.
{servers}
    }}
"""


def balancer_block(ports: list[int], lb_port: int) -> str:
    """nginx's ``http`` block lines for the replicas' upstream and a plain balancer in front of them
    on ``lb_port`` (for Traefik, Caddy or a test to reach any replica)."""
    return (
        upstream_block(ports)
        + f"""
    server {{
        listen 127.0.0.1:{lb_port};
        location / {{
            proxy_pass http://authgate_replicas;
            proxy_set_header Host $http_host;
            proxy_next_upstream error timeout http_502;
        }}
    }}
"""
    )


@contextmanager
def replicas_behind_nginx(
    tmp: Path,
    env: dict[str, str],
    *,
    echo_port: int,
    count: int = 3,
    app_port: int | None = None,
    lb_port: int | None = None,
) -> Iterator[Cluster]:
    app_port = app_port or free_port()
    lb_port = lb_port or free_port()
    replicas = [start_gateway(tmp, env, name=f"replica{i}") for i in range(count)]
    cluster = Cluster(replicas, app_port, lb_port, tmp, env)
    extra = balancer_block([g.port for g in replicas], lb_port)
    try:
        with nginx_server(
            tmp,
            gateway_url="http://authgate_replicas",
            app_port=echo_port,
            port=app_port,
            extra_http=extra,
            wait_ports=(lb_port,),
        ):
            yield cluster
    finally:
        for g in cluster.replicas:
            g.proc.stop()
