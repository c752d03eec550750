"""Access tokens from the OpenID Connect provider, for a codec server behind the Temporal Web UI's
own OIDC login (production: the UI passes the signed-in user's access token to the codec).

A token counts only when its signature checks against the provider's published keys (JWKS), its
issuer and audience are the configured ones and it has not expired; then the caseflow user it
maps to (by `sub`, or a verified e-mail, as the web login maps them) must hold a role that may
read decoded payloads: ops or supervisor.
"""

from __future__ import annotations

import threading
import time

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from client.identities import IdentityStore, Role, User

DECODING_ROLES = (Role.OPS, Role.SUPERVISOR)
_KEYS_KEPT_SECONDS = 300  # a key the provider rotated in is fetched at the first unknown kid


class AccessTokenRefused(Exception):
    """Why a token does not let its holder decode; the message never repeats the token."""


class OidcAccessTokens:
    def __init__(
        self, jwks_url: str, issuer: str, audience: str, store: IdentityStore
    ) -> None:
        self._jwks_url = jwks_url
        self._issuer = issuer
        self._audience = audience
        self._store = store
        self._keys: KeySet | None = None
        self._fetched = 0.0
        self._lock = threading.Lock()

    def _key_set(self, refresh: bool) -> KeySet:
        with self._lock:
            stale = time.monotonic() - self._fetched > _KEYS_KEPT_SECONDS
            if self._keys is None or refresh or stale:
                import httpx  # loaded with the first key fetch, not by every importer

                response = httpx.get(self._jwks_url, timeout=10)
                response.raise_for_status()
                self._keys = KeySet.import_key_set(response.json())
                self._fetched = time.monotonic()
            return self._keys

    def _claims(self, token: str) -> dict:
        for refresh in (False, True):
            try:
                decoded = jwt.decode(token, self._key_set(refresh), algorithms=["RS256", "ES256"])
                break
            except (JoseError, ValueError) as error:
                if refresh:
                    raise AccessTokenRefused(f"access token: {type(error).__name__}") from None
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self._issuer},
            aud={"essential": True, "value": self._audience},
            exp={"essential": True},
            sub={"essential": True},
        )
        try:
            registry.validate(decoded.claims)
        except JoseError as error:
            raise AccessTokenRefused(f"access token: {error.error}") from None
        return decoded.claims

    def identity(self, token: str) -> User:
        """The caseflow user a valid access token stands for, if they may decode."""
        claims = self._claims(token)
        email = claims.get("email") if claims.get("email_verified") else None
        user = self._store.user_for_oidc(str(claims["sub"]), email)
        if user is None:
            raise AccessTokenRefused("access token: no caseflow user for this sign-in")
        if user.role not in DECODING_ROLES:
            raise AccessTokenRefused(
                f"access token: the {user.role.value} role may not read decoded payloads"
            )
        return user
