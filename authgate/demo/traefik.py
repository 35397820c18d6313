"""The demo's Traefik: the two apps behind authgate's forwardAuth, and the replicas' balancer."""

from __future__ import annotations

from pathlib import Path

from authgate.access.identity_headers import managed_headers


def traefik_config(d: Path, port: int, lb_port: int, replicas: list[int], app_port: int) -> Path:
    servers = "\n".join(f'          - url: "http://127.0.0.1:{p}"' for p in replicas)
    headers = "\n".join(f"          - {h}" for h in managed_headers())
    (d / "dynamic.yml").write_text(f"""http:
  middlewares:
    authgate:
      forwardAuth:
        address: "http://127.0.0.1:{lb_port}/outpost.goauthentik.io/auth/traefik"
        authResponseHeaders:
{headers}
  routers:
    apps:
      rule: "Host(`app.localhost`) || Host(`admin.localhost`)"
      entryPoints: [web]
      middlewares: [authgate]
      service: app
    apps-authgate:
      rule: "(Host(`app.localhost`) || Host(`admin.localhost`)) && PathPrefix(`/outpost.goauthentik.io/`)"
      entryPoints: [web]
      priority: 100
      service: authgate
    authgate-lb:
      rule: "PathPrefix(`/`)"
      entryPoints: [authgate]
      service: authgate
  services:
    app:
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:{app_port}"
    authgate:
      loadBalancer:
        servers:
{servers}
""")
    static = d / "traefik.yml"
    static.write_text(f"""entryPoints:
  web:
    address: "127.0.0.1:{port}"
  authgate:
    # The balancer in front of the replicas: keep the X-Forwarded-* of the first hop.
    address: "127.0.0.1:{lb_port}"
    forwardedHeaders:
      trustedIPs: ["127.0.0.1/32"]
providers:
  file:
    filename: "{d / "dynamic.yml"}"
log:
  level: WARN
""")
    return static
