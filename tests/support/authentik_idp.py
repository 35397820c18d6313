"""The node test IdP in Authentik's layout: several applications on one host, each its own client and issuer.

Authentik serves every application's OAuth2/OIDC provider under one host. Per application slug: the issuer
``<base>/application/o/<slug>/`` (trailing slash included), its discovery document at
``<issuer>.well-known/openid-configuration``, its JWKS at ``/application/o/<slug>/jwks/`` and its end-session
endpoint at ``/application/o/<slug>/end-session/``. The authorize, token, userinfo, revoke and introspect
endpoints are shared (``/application/o/authorize/`` ...): the client is found by its client_id. Tokens carry
``iss`` = the application's issuer and ``aud`` = its client id, signed with the application's own key.

tests/idp/server.mjs runs this with ``IDP_AUTHENTIK_APPS`` (documented at its top); everything else (users,
sign-in pages, ``/__test/*`` endpoints, :func:`tests.support.node_idp.follow_idp`) works as in the
single-issuer mode. One IdP session serves every application (single sign-on, as in Authentik).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authgate.demo.devstack import IDP_DIR, node_idp_env
from tests.support.node_idp import SERVER, NodeIdP, _start_listening, await_discovery, require_node_idp
from tests.support.procs import Proc, free_port


@dataclass(frozen=True)
class App:
    """One application: its slug, its confidential client and the client's metadata."""

    slug: str
    client_id: str
    client_secret: str
    redirect_uris: Sequence[str] = ()
    post_logout_redirect_uris: Sequence[str] = ()
    backchannel_logout_uri: str | None = None
    token_endpoint_auth_method: str = "client_secret_basic"
    #: More client metadata, e.g. ``{"id_token_signed_response_alg": "HS256"}`` (a Proxy provider's client).
    extra: Mapping[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        """The entry of IDP_AUTHENTIK_APPS for this application."""
        out: dict[str, Any] = {
            "slug": self.slug,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            **self.extra,
        }
        if self.backchannel_logout_uri:
            out["backchannel_logout_uri"] = self.backchannel_logout_uri
            out["backchannel_logout_session_required"] = True
        return out


@dataclass
class AuthentikIdP(NodeIdP):
    """``issuer`` is the base URL (``http://<host>:<port>``); ``client_id``/``client_secret`` the first app's."""

    apps: dict[str, App] = field(default_factory=dict)

    def issuer_for(self, slug: str) -> str:
        """``<base>/application/o/<slug>/``: exactly what the app's tokens carry as ``iss``."""
        return f"{self.issuer}/application/o/{slug}/"

    def discovery_url(self, slug: str) -> str:
        return f"{self.issuer_for(slug)}.well-known/openid-configuration"

    def jwks_url(self, slug: str) -> str:
        return f"{self.issuer_for(slug)}jwks/"

    def end_session_url(self, slug: str) -> str:
        return f"{self.issuer_for(slug)}end-session/"

    def shared_url(self, name: str) -> str:
        """A shared endpoint: ``authorize``, ``token``, ``userinfo``, ``revoke`` or ``introspect``."""
        return f"{self.issuer}/application/o/{name}/"


def start_authentik_idp(
    tmp_path: Path,
    apps: Sequence[App],
    *,
    access_ttl: int = 3600,
    id_token_ttl: int | None = None,
    refresh_ttl: int | None = None,
    public_host: str | None = None,
    users: list[dict[str, Any]] | None = None,
    name: str | None = None,
    timeout: float = 20.0,
    port: int | None = None,
    base: str | None = None,
) -> AuthentikIdP:
    """Start the oidc-provider test IdP in Authentik's layout on a free loopback port, one Provider per app.

    ``public_host`` (e.g. ``"auth.test"``) makes the base URL ``http://auth.test:<port>`` while the server
    listens on 127.0.0.1. ``base`` sets the base URL outright (a server in front of this one, e.g.
    tests/support/fake_authentik.py, answers at it). Returns once every application's discovery document answers.
    """
    if not apps:
        raise ValueError("give at least one App")
    node = require_node_idp()
    port = port or free_port()
    base = base or f"http://{public_host or '127.0.0.1'}:{port}"
    extra = {
        "IDP_ACCESS_TTL": str(access_ttl),
        "NODE_ENV": "test",
        "IDP_AUTHENTIK_APPS": json.dumps([app.metadata() for app in apps]),
    }
    if id_token_ttl is not None:
        extra["IDP_ID_TOKEN_TTL"] = str(id_token_ttl)
    if refresh_ttl is not None:
        extra["IDP_REFRESH_TTL"] = str(refresh_ttl)
    env = node_idp_env([], issuer=base, users=users, extra=extra)
    proc = _start_listening(
        Proc(name or f"authentik-idp-{port}", [node, str(SERVER), str(port)], log_dir=tmp_path, env=env, cwd=IDP_DIR),
        port,
        timeout,
    )
    paths = [f"/application/o/{app.slug}/.well-known/openid-configuration" for app in apps]
    http = await_discovery(proc, port, paths, timeout)
    first = apps[0]
    return AuthentikIdP(proc, port, base, first.client_id, first.client_secret, http, {a.slug: a for a in apps})
