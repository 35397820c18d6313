"""Where the invalidation feed's own connection goes: the address, TLS and login that the store's
URL gives its redis-py client, read through redis-py's public parser (``parse_url``) and applied as
redis-py applies them (``SSLConnection``'s defaults), plus the Sentinel URL this project accepts."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from redis.asyncio.connection import parse_url
from redis.asyncio.sentinel import Sentinel

from authgate.errors import StoreUnavailable
from authgate.store.subscription import Endpoint, Login


class Target:
    """How a subscription reaches a server of the store: the login and TLS settings its URL gives
    the store's own client, and for one server (not Sentinel, not Cluster) the address too."""

    def __init__(
        self,
        login: Login,
        *,
        tls: Mapping[str, object] | None,
        host: str = "localhost",
        port: int = 6379,
        path: str = "",
    ) -> None:
        self.login = login
        self._tls = tls  # the URL's options when it asks for TLS
        self._context: ssl.SSLContext | None = None
        self._host, self._port, self._path = host, port, path

    @classmethod
    def from_url(cls, url: str) -> Target:
        """A ``redis://``, ``rediss://`` or ``unix://`` URL, read by redis-py's own parser."""
        opts: dict[str, object] = dict(parse_url(url))
        login = Login(
            username=_opt(opts, "username"),
            password=_opt(opts, "password"),
            db=int(_opt(opts, "db") or 0),
            resp3=_opt(opts, "protocol") == "3",
            client_name=_opt(opts, "client_name"),
        )
        tls = opts if urlsplit(url).scheme == "rediss" else None
        return cls(
            login,
            tls=tls,
            host=_opt(opts, "host") or "localhost",
            port=int(_opt(opts, "port") or 6379),
            path=_opt(opts, "path") or "",
        )

    @property
    def tls(self) -> bool:
        return self._tls is not None

    def endpoint(self, host: str | None = None, port: int | None = None) -> Endpoint:
        """The URL's own server, or the one at ``host:port`` (a Sentinel's master, a Cluster's node)."""
        if host is None or port is None:
            return Endpoint(self._host, self._port, self._path, self._tls_context(), self.login)
        return Endpoint(host, port, tls=self._tls_context(), login=self.login)

    def _tls_context(self) -> ssl.SSLContext | None:
        if self._tls is None:
            return None
        if self._context is None:  # built once, at the first subscription, as redis-py builds its own
            try:
                self._context = _tls_context(self._tls)
            except (OSError, ValueError, KeyError) as exc:  # ssl.SSLError is an OSError
                raise StoreUnavailable(f"redis: the URL's TLS settings: {type(exc).__name__}: {exc}") from exc
        return self._context


_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
_FALSE = ("0", "F", "FALSE", "N", "NO")  # redis-py's to_bool


def _tls_context(opts: Mapping[str, object]) -> ssl.SSLContext:
    """The TLS a ``rediss://`` URL asks for, applied as redis-py applies it to its own connections
    (``SSLConnection``'s defaults: the server's certificate verified, its name checked)."""
    reqs = _CERT_REQS[_opt(opts, "ssl_cert_reqs") or "required"]
    context = ssl.create_default_context()
    check_hostname = _opt(opts, "ssl_check_hostname")
    context.check_hostname = reqs != ssl.CERT_NONE and (check_hostname is None or check_hostname.upper() not in _FALSE)
    context.verify_mode = reqs
    for flag in _verify_flags(opts.get("ssl_include_verify_flags")):
        context.verify_flags |= flag
    for flag in _verify_flags(opts.get("ssl_exclude_verify_flags")):
        context.verify_flags &= ~flag
    certfile, keyfile = _opt(opts, "ssl_certfile"), _opt(opts, "ssl_keyfile")
    if keyfile and not certfile:
        raise ValueError("ssl_keyfile without ssl_certfile")
    if certfile:
        context.load_cert_chain(certfile, keyfile, _opt(opts, "ssl_password"))
    ca_certs, ca_path, ca_data = _opt(opts, "ssl_ca_certs"), _opt(opts, "ssl_ca_path"), _opt(opts, "ssl_ca_data")
    if ca_certs or ca_path or ca_data:
        context.load_verify_locations(cafile=ca_certs, capath=ca_path, cadata=ca_data)
    min_version = _opt(opts, "ssl_min_version")
    if min_version:
        context.minimum_version = ssl.TLSVersion(int(min_version))
    ciphers = _opt(opts, "ssl_ciphers")
    if ciphers:
        context.set_ciphers(ciphers)
    return context


def _opt(opts: Mapping[str, object], name: str) -> str | None:
    """One option of a parsed URL as text (redis-py parses some to int or bool, others not)."""
    value = opts.get(name)
    return None if value is None or value == "" else str(value)


def _verify_flags(value: object) -> list[ssl.VerifyFlags]:
    """``VERIFY_X509_STRICT,VERIFY_X509_PARTIAL_CHAIN``: as parsed by redis-py, or the text itself."""
    if isinstance(value, list):
        return [ssl.VerifyFlags(flag) for flag in value]
    if isinstance(value, str):
        return [ssl.VerifyFlags[name.strip()] for name in value.strip("[]").split(",") if name.strip()]
    return []


def sentinel_of(url: str, opts: dict[str, Any]) -> tuple[Sentinel, str, Target]:
    """``redis+sentinel://[[user]:password@]h1:p1,h2:p2/<master name>[/db]``: the Sentinel manager,
    the master's name, and how to log in to the master (TLS with redis-py's defaults for ``rediss+``)."""
    parts = urlsplit(url)
    hosts: list[tuple[str, int]] = []
    for item in parts.netloc.rpartition("@")[2].split(","):
        host, colon, port = item.rpartition(":")
        if not colon or host.startswith("[") != host.endswith("]") or item.endswith("]"):
            host, port = item, ""  # no port given (an IPv6 address is bracketed)
        hosts.append((host.strip("[]"), int(port or 26379)))
    path = [p for p in parts.path.split("/") if p]
    name = path[0] if path else "mymaster"
    db = int(path[1]) if len(path) > 1 else 0
    query = parse_qs(parts.query)
    password = unquote(parts.password) if parts.password else next(iter(query.get("password", [])), None)
    username = unquote(parts.username) if parts.username else None
    sentinel_opts = {"socket_timeout": opts["socket_timeout"], "socket_connect_timeout": opts["socket_timeout"]}
    sentinel = Sentinel(hosts, sentinel_kwargs=sentinel_opts, **opts)
    tls: Mapping[str, object] | None = {} if parts.scheme.startswith("rediss") else None
    return sentinel, name, Target(Login(username=username, password=password, db=db), tls=tls)
