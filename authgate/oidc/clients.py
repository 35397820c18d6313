"""The OAuth clients: the global one, and one per app of the rules file that names its own.

Authentik gives every application its own provider (client id, secret, issuer
``/application/o/<slug>/``), so its policy bindings decide who may open which app and each app
shows on the user's dashboard. A request is signed in with its host's client; the session records
which (``SessionData.client``), and its refresh, sign-out and back-channel logout use that one.
Each client has its own discovery, keys and HTTP client, so one IdP being down touches only its
own apps' sign-ins and refreshes.

Clients are named by their client id: an app that names none uses the global client, "".

A client's *lane* (``lane``: its issuer and client id) is what a message from the IdP can reach: a
logout token ends only the sessions signed in with the client it was issued for, and refused
passwords of header auth are counted per lane (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from authgate.oidc import OIDCClient


def lane(client: OIDCClient) -> str:
    """The issuer and client id of ``client``: sessions, logout tokens and failure counts of one
    lane never reach another's. (The issuer without its trailing slash, as ``for_token`` compares it.)"""
    return f"{client.issuer.rstrip('/')} {client.client_id}"


class Clients:
    """The clients by name ("" the global one)."""

    def __init__(self, default: OIDCClient, per_app: dict[str, OIDCClient] | None = None) -> None:
        self.default = default
        self._by_name: dict[str, OIDCClient] = {"": default, **(per_app or {})}

    def replace(self, per_app: dict[str, OIDCClient]) -> None:
        """The per-app clients from now on (a reload of the rules file); the global one stays."""
        self._by_name = {"": self.default, **per_app}

    def get(self, name: str) -> OIDCClient | None:
        """The client named ``name``; None when no app names it any more (its sessions end)."""
        return self._by_name.get(name)

    def named(self) -> Iterator[tuple[str, OIDCClient]]:
        """Every client with its name, the global one first."""
        return iter(self._by_name.items())

    def for_token(self, issuer: str, audiences: tuple[str, ...]) -> OIDCClient | None:
        """The client a token names by issuer and audience (unverified: the client then validates it)."""
        return next(
            (
                c
                for c in self._by_name.values()
                if c.issuer.rstrip("/") == issuer.rstrip("/") and c.client_id in audiences
            ),
            None,
        )

    def __len__(self) -> int:
        return len(self._by_name)

    async def aclose(self) -> None:
        for client in {id(c): c for c in self._by_name.values()}.values():
            await client.aclose()
