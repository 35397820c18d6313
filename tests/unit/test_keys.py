"""ID token validation and the JWKS cache (joserfc keys made here; no server)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from authgate.errors import TokenValidationError
from authgate.oidc import keys as keys_mod
from authgate.oidc.keys import KeyCache, validate_claims

ISS = "https://auth.example.test/application/o/app/"


def _key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


def _sign(key: RSAKey, **claims: Any) -> str:
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def _claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISS, "aud": "client", "sub": "alice", "exp": now + 300, "iat": now, "nonce": "n1", **over}


async def test_unknown_key_id_refetches_the_jwks_once() -> None:
    old, new = _key("old"), _key("new")
    published = [{"keys": [old.as_dict(private=False)]}]
    fetches = 0

    async def fetch() -> dict[str, Any]:
        nonlocal fetches
        fetches += 1
        return published[-1]

    cache = KeyCache(fetch, "secret")
    assert (await cache.decode(_sign(old, **_claims()), ["RS256"]))["sub"] == "alice"
    published.append({"keys": [old.as_dict(private=False), new.as_dict(private=False)]})
    cache._fetched_at -= keys_mod.REFETCH_INTERVAL + 1  # the last fetch was long ago
    assert (await cache.decode(_sign(new, **_claims()), ["RS256"]))["sub"] == "alice"
    assert fetches == 2
    # A forged key id right after a fetch does not make us hammer the IdP.
    with pytest.raises(TokenValidationError):
        await cache.decode(_sign(_key("forged"), **_claims()), ["RS256"])
    assert fetches == 2


# The client secret here is deliberately short (a token signed with another client's must fail):
# joserfc's warning about its size is expected in this test only.
@pytest.mark.filterwarnings("ignore:Key size should be >= 112 bits")
async def test_signature_and_algorithm_are_enforced() -> None:
    good, evil = _key("k1"), _key("k1")

    async def fetch() -> dict[str, Any]:
        return {"keys": [good.as_dict(private=False)]}

    cache = KeyCache(fetch, "secret")
    with pytest.raises(TokenValidationError):
        await cache.decode(_sign(evil, **_claims()), ["RS256"])  # same kid, other key
    with pytest.raises(TokenValidationError):
        await cache.decode(_sign(good, **_claims()), ["ES256"])  # alg not allowed
    unsigned = jwt.encode({"alg": "HS256"}, _claims(), OctKey.import_key("secret-of-another-client-000000000000"))
    with pytest.raises(TokenValidationError):
        await cache.decode(unsigned, ["HS256"])
    with pytest.raises(TokenValidationError):
        await cache.decode("not-a-jwt", ["RS256"])


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"iss": "https://auth.example.test/application/o/other/"}, "issuer mismatch"),
        ({"aud": "someone-else"}, "aud"),
        ({"exp": int(time.time()) - 3600}, "exp"),
        ({"nonce": "replayed"}, "nonce"),
    ],
)
def test_claims_validation_rejects(override: dict[str, Any], fragment: str) -> None:
    with pytest.raises(TokenValidationError, match=fragment):
        validate_claims(_claims(**override), issuer=ISS, audience="client", nonce="n1")


def test_claims_validation_accepts_a_good_token_and_checks_azp() -> None:
    validate_claims(_claims(), issuer=ISS, audience="client", nonce="n1")
    validate_claims(_claims(aud=["client", "api"], azp="client"), issuer=ISS, audience="client", nonce="n1")
    with pytest.raises(TokenValidationError):
        validate_claims(_claims(aud=["client", "api"], azp="api"), issuer=ISS, audience="client", nonce="n1")
