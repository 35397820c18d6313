"""The demo's Traefik: the two apps behind authgate's forwardAuth, and the replicas' balancer.

Every option Traefik warns about when left to its default is set, to the strict value (so the
demo's log holds no warning of ours): client X-Forwarded-* headers dropped (``trustForwardHeader:
false``: the browser talks to Traefik directly), header names that alias another (``X_Auth``)
deleted, ambiguous encoded characters in a path refused, authgate's answer bounded in size.
"""

from __future__ import annotations

from pathlib import Path

from authgate.access.identity_headers import managed_headers

_ENCODED = ("Slash", "BackSlash", "NullCharacter", "Semicolon", "Percent", "QuestionMark", "Hash")
_STRICT = "\n".join(
    ["      aliasHeadersStrategy: delete", "      encodedCharacters:"]
    + [f"        allowEncoded{name}: false" for name in _ENCODED]
)


def traefik_config(d: Path, port: int, lb_port: int, replicas: list[int], app_port: int) -> Path:
    servers = "\n".join(f'          - url: "http://127.0.0.1:{p}"' for p in replicas)
    headers = "\n".join(f"          - {h}" for h in managed_headers())
    (d / "dynamic.yml").write_text(f"""http:
  middlewares:
    authgate:
      forwardAuth:
        address: "http://127.0.0.1:{lb_port}/outpost.goauthentik.io/auth/traefik"
        trustForwardHeader: false
        maxResponseBodySize: 1048576
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
    http:
{_STRICT}
  authgate:
    # The balancer in front of the replicas: keep the X-Forwarded-* of the first hop.
    address: "127.0.0.1:{lb_port}"
    forwardedHeaders:
      trustedIPs: ["127.0.0.1/32"]
    http:
{_STRICT}
providers:
  file:
    filename: "{d / "dynamic.yml"}"
log:
  level: WARN
""")
    return static
