"""Where a browser goes after signing out at the IdP: ``rd`` carried through the IdP, signed.

IdPs send a browser back after RP-initiated logout only to a registered ``post_logout_redirect_uri``,
so authgate registers one fixed address per host (``{prefix}/signed_out``) and carries the ``rd``
of ``/sign_out`` in the logout request's ``state``, which the IdP hands back unchanged. The value
is signed (HMAC-SHA256, the first secret signs, every secret verifies) and expires: a forged or old
``state`` sends nobody anywhere. ``/signed_out`` still validates the address again for the host
it arrived on (authgate/access/redirects.py), so a signed value moved to another host opens no redirect.

Pure logic: no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from itsdangerous import BadSignature, URLSafeTimedSerializer

MAX_AGE = 900  # seconds a sign-out may spend at the IdP (its confirmation page included)
MAX_STATE = 4095  # longer than any valid value (rd is bounded by the redirect rules)


class ReturnSigner:
    """Signs a return address into a ``state`` value and opens it again."""

    def __init__(self, secret_keys: Sequence[str], salt: str = "authgate.signed-out") -> None:
        # itsdangerous signs with the *last* key; ours is "the first signs".
        self._signer = URLSafeTimedSerializer(
            list(reversed(secret_keys)),
            salt=salt,
            signer_kwargs={"digest_method": hashlib.sha256, "key_derivation": "hmac"},
        )

    def dumps(self, rd: str) -> str:
        """``rd`` signed, URL-safe (base64url: no character a query string would need escaped)."""
        return self._signer.dumps(rd)

    def loads(self, state: str, *, max_age: int = MAX_AGE) -> str | None:
        """The address in ``state``, or None for anything forged, expired or malformed."""
        if not state or len(state) > MAX_STATE:
            return None
        try:
            rd = self._signer.loads(state, max_age=max_age)
        except (BadSignature, UnicodeError, ValueError):
            return None
        return rd if isinstance(rd, str) else None
