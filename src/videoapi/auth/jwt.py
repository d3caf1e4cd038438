"""JWT bearer tokens: HS256 with a shared secret, RS256/ES256 with a PEM key or a JWKS (file or URL).

The token's `alg` picks the key material, and only material configured for that family is ever
used, so an RSA public key can never be misused as an HMAC secret. `iss` and `sub` name the owner,
`jwt:{iss}:{sub}`, a namespace no API key id can enter; `scope` (space-separated) or `scopes`
(a list) says what the token may do.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt

from videoapi.auth.models import SCOPES
from videoapi.errors import Unauthorized
from videoapi.settings import AuthSettings

ASYMMETRIC = ("RS256", "ES256")
# An unknown `kid` refetches the JWKS (key rotation), but not more often than this.
_JWKS_MIN_REFRESH_S = 10.0
_JWKS_TIMEOUT_S = 10.0
# The width of every owner_id column.
_OWNER_ID_CHARS = 64


def jwt_owner_id(iss: str, sub: str) -> str:
    """The owner id of a token's subject: `jwt:{iss}:{sub}`, never equal to an API key id (a UUID).

    `%` and `:` in the issuer are percent-encoded, so the first `:` after `jwt:` ends it and two
    (issuer, subject) pairs never meet. An id longer than the columns becomes `jwt#` and a SHA-256.
    """
    owner = f"jwt:{iss.replace('%', '%25').replace(':', '%3A')}:{sub}"
    if len(owner) <= _OWNER_ID_CHARS:
        return owner
    return "jwt#" + hashlib.sha256(owner.encode()).hexdigest()[: _OWNER_ID_CHARS - 4]


class JwtClaims:
    __slots__ = ("iss", "scopes", "sub")

    def __init__(self, sub: str, scopes: frozenset[str], iss: str = "") -> None:
        self.sub = sub
        self.scopes = scopes
        self.iss = iss

    @property
    def owner_id(self) -> str:
        return jwt_owner_id(self.iss, self.sub)


def _invalid(detail: str) -> Unauthorized:
    return Unauthorized(detail, code="invalid_token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


class JwtVerifier:
    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._public_key = _read_pem(settings.jwt_public_key) if settings.jwt_public_key else None
        self._jwks = JwksCache(settings.jwt_jwks_url, settings.jwt_jwks_cache_s) if settings.jwt_jwks_url else None

    @property
    def enabled(self) -> bool:
        return bool(self.settings.jwt_secret or self._public_key or self._jwks)

    async def verify(self, token: str) -> JwtClaims:
        """Check signature, expiry, issuer and audience; raise Unauthorized (`invalid_token`) otherwise."""
        if not self.enabled:
            raise _invalid("JWT bearer tokens are not accepted by this server")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _invalid("the bearer token is neither an API key nor a well-formed JWT") from None
        alg = header.get("alg")
        key: Any
        if alg == "HS256" and self.settings.jwt_secret:
            key = self.settings.jwt_secret
        elif alg in ASYMMETRIC and self._public_key is not None:
            key = self._public_key
        elif alg in ASYMMETRIC and self._jwks is not None:
            key = await self._jwks.key(header.get("kid"), alg)
        else:
            raise _invalid(f"tokens signed with {alg!r} are not accepted")
        s = self.settings
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=s.jwt_audience or None,
                issuer=s.jwt_issuer or None,
                leeway=s.jwt_leeway_s,
                options={"require": ["exp", "sub"], "verify_aud": bool(s.jwt_audience)},
            )
        except jwt.ExpiredSignatureError:
            raise _invalid("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise _invalid("the token is not meant for this audience") from None
        except jwt.InvalidIssuerError:
            raise _invalid("the token comes from another issuer") from None
        except jwt.PyJWTError as exc:
            raise _invalid(f"the token is invalid: {exc}") from None
        sub = claims.get("sub")
        if not isinstance(sub, str) or not 0 < len(sub) <= 64:
            raise _invalid("the token's `sub` must be a string of 1 to 64 characters")
        iss = claims.get("iss", "")
        if not isinstance(iss, str):
            raise _invalid("the token's `iss` must be a string")
        return JwtClaims(sub, _scopes(claims, s.jwt_default_scopes), iss)


def _scopes(claims: dict[str, Any], default: list[str]) -> frozenset[str]:
    raw: Any = claims.get("scope")
    if raw is None:
        raw = claims.get("scopes")
    if raw is None:
        values = default
    elif isinstance(raw, str):
        values = raw.split()
    elif isinstance(raw, list):
        values = [v for v in raw if isinstance(v, str)]
    else:
        values = []
    return frozenset(v for v in values if v in SCOPES)


def _read_pem(value: str) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    text = value if value.lstrip().startswith("-----BEGIN") else Path(value).read_text()
    return load_pem_public_key(text.encode())


class JwksCache:
    """Keys of a JWKS document, from a file (read once) or an http(s) URL (refetched when stale)."""

    def __init__(self, source: str, ttl_s: float) -> None:
        self.source = source
        self.ttl_s = ttl_s
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None, alg: str) -> Any:
        now = time.monotonic()
        if now - self._fetched_at > self.ttl_s or (
            kid not in self._keys and now - self._fetched_at > _JWKS_MIN_REFRESH_S
        ):
            await self._refresh()
        jwk = self._keys.get(kid) or (next(iter(self._keys.values())) if kid is None and len(self._keys) == 1 else None)
        if jwk is None:
            raise _invalid(f"no key with kid {kid!r} in the JWKS")
        if jwk.algorithm_name != alg:
            raise _invalid(f"the key {kid!r} is not a {alg} key")
        return jwk.key

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at <= _JWKS_MIN_REFRESH_S and self._keys:
                return
            try:
                document = await self._load()
                jwks = jwt.PyJWKSet.from_dict(document)
            except (OSError, ValueError, httpx.HTTPError, jwt.PyJWTError) as exc:
                if self._keys:  # keep serving the keys we have while the JWKS endpoint is down
                    self._fetched_at = time.monotonic()
                    return
                raise _invalid(f"the JWKS could not be loaded: {type(exc).__name__}") from None
            self._keys = {k.key_id: k for k in jwks.keys}
            self._fetched_at = time.monotonic()

    async def _load(self) -> dict[str, Any]:
        if self.source.startswith(("http://", "https://")):
            async with httpx.AsyncClient(timeout=_JWKS_TIMEOUT_S, trust_env=False, follow_redirects=False) as client:
                resp = await client.get(self.source)
                resp.raise_for_status()
                return resp.json()
        return json.loads(await asyncio.to_thread(Path(self.source).read_text))
