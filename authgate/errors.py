"""The one exception hierarchy of authgate.

Every module raises these (translating library errors with ``raise ... from exc``);
only the HTTP layer turns them into responses, and only the CLI into exit codes.

    AuthgateError
    ├── ConfigError                 configuration invalid (carries every problem)
    ├── StoreError
    │   └── StoreUnavailable        the session store cannot be reached in time
    ├── BadRequest                  hostile or malformed client input (4xx)
    │   ├── InvalidRedirect         rd / original URL points somewhere not allowed
    │   ├── InvalidForwardedHeaders X-Original-* / X-Forwarded-* missing or malformed
    │   ├── LoginStateError         state unknown, expired, replayed or not this browser's
    │   ├── ReturnURLTooLong        the address to return to is too long to keep (414)
    │   └── CredentialsRefused      an API client's Authorization header is not accepted (401)
    └── IdPError                    the identity provider failed us
        ├── IdPUnavailable          network error or 5xx: retrying may help
        │   └── IssuerMismatch      the IdP calls itself by another issuer than configured
        ├── IdPRejected             the IdP answered with an OAuth error (invalid_grant ...)
        └── TokenValidationError    an ID / logout token failed validation
"""

from __future__ import annotations


class AuthgateError(Exception):
    """Base of every error authgate raises on purpose."""


class ConfigError(AuthgateError):
    """The configuration is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class StoreError(AuthgateError):
    """The session store failed."""


class StoreUnavailable(StoreError):
    """The session store cannot be reached (or did not answer in time)."""


class BadRequest(AuthgateError):
    """Client input that is malformed or not allowed; answered with a 4xx."""


class InvalidRedirect(BadRequest):
    """A redirect target that is not on an allowed host."""


class InvalidForwardedHeaders(BadRequest):
    """The proxy's X-Original-* / X-Forwarded-* headers are missing or malformed."""


class LoginStateError(BadRequest):
    """The callback's state is unknown, expired, already used, or not this browser's."""


class ReturnURLTooLong(BadRequest):
    """The address to return to after signing in is too long to keep in a login cookie."""


class CredentialsRefused(BadRequest):
    """An API client's bearer token or username + app password is not accepted (header auth).

    ``reason`` is for the audit trail (never the token or password); ``user`` is the username a
    Basic header named ("" for a bearer token, whose claims are not believed when refused)."""

    def __init__(self, scheme: str, reason: str, *, user: str = "") -> None:
        self.scheme = scheme
        self.reason = reason
        self.user = user
        super().__init__(f"{scheme}: {reason}")


class IdPError(AuthgateError):
    """The identity provider could not do what we asked."""


class IdPUnavailable(IdPError):
    """The identity provider could not be reached, or answered with a server error."""


class IssuerMismatch(IdPUnavailable):
    """The IdP's discovery document names another issuer than ``AUTHGATE_ISSUER``."""

    def __init__(self, found: str, configured: str) -> None:
        self.found = found
        self.configured = configured
        super().__init__(
            f"issuer mismatch: the IdP calls itself {found!r} but AUTHGATE_ISSUER is {configured!r}; "
            "set AUTHGATE_ISSUER to exactly the IdP's issuer"
        )


class IdPRejected(IdPError):
    """The identity provider answered with an OAuth error such as ``invalid_grant``."""

    def __init__(self, error: str, description: str = "") -> None:
        self.error = error
        self.description = description
        super().__init__(f"{error}: {description}" if description else error)

    @property
    def ends_session(self) -> bool:
        """Whether this error means the grant is gone for good (sign in again)."""
        return self.error in {"invalid_grant", "invalid_client", "unauthorized_client"}


class TokenValidationError(IdPError):
    """A token from the IdP failed validation (signature, issuer, audience, expiry, nonce)."""


class OutpostError(AuthgateError):
    """Authentik's outpost API could not be read (outpost mode): unreachable, or it answered what
    an outpost cannot use (a token refused, an outpost of another type)."""


class OutpostTokenRefused(OutpostError):
    """Authentik refused the outpost's token (``AUTHENTIK_TOKEN``)."""
