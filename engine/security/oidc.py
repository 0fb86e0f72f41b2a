"""Single sign-on with OpenID Connect (authorization code flow, authlib).

``/api/v1/auth/oidc/login`` sends the browser to the provider; the provider sends it back to
``/api/v1/auth/oidc/callback`` with a code, which is exchanged for an ID token. The token's
signature (the provider's JWKS), issuer, audience, expiry and nonce are checked, the user
is found by e-mail or created just in time, and their roles and teams are set from claims
through the configured maps. The answer is an ordinary Tessera bearer token.

The ``state`` parameter is a signed, expiring value holding the nonce, so the flow needs
no server-side session. SAML is left to a plugin.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
import sqlalchemy as sa
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from engine.actor import SYSTEM
from engine.errors import AuthenticationRequired, BadRequest, TesseraError
from engine.security.users import role_ids
from engine.storage.database import read_transaction

STATE_MAX_AGE = 600


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str
    #: claim holding the user's groups or roles at the provider, and how they map to roles
    roles_claim: str = "roles"
    role_map: dict[str, str] = field(default_factory=dict)
    default_roles: tuple[str, ...] = ()
    #: claim naming teams (mapped by name onto existing Tessera teams)
    teams_claim: str | None = None
    scope: str = "openid email profile"


class OidcClient:
    def __init__(self, settings: OidcSettings, secret_key: str, timeout: float = 10.0):
        self.settings = settings
        self.timeout = timeout
        self._discovery: dict[str, Any] | None = None
        self._signer = URLSafeTimedSerializer(secret_key, salt="tessera-oidc-state")

    def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                response = requests.get(url, timeout=self.timeout)
                response.raise_for_status()
                self._discovery = response.json()
            except (requests.RequestException, ValueError) as exc:
                raise TesseraError(f"The sign-in provider cannot be reached: {exc}") from None
        return self._discovery

    def authorization_url(self, redirect_uri: str) -> str:
        nonce = secrets.token_urlsafe(16)
        state = self._signer.dumps({"nonce": nonce, "redirect_uri": redirect_uri})
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.client_id,
                "scope": self.settings.scope,
                "redirect_uri": redirect_uri,
                "state": state,
                "nonce": nonce,
            }
        )
        return f"{self.discovery()['authorization_endpoint']}?{query}"

    def claims(self, code: Any, state: Any) -> dict[str, Any]:
        """Exchange ``code`` and return the verified claims of the ID token."""
        if not isinstance(code, str) or not isinstance(state, str):
            raise BadRequest("The provider's answer lacks code or state")
        try:
            saved = self._signer.loads(state, max_age=STATE_MAX_AGE)
        except BadSignature:
            raise AuthenticationRequired("The sign-in attempt expired or was tampered with; start again") from None
        meta = self.discovery()
        session = OAuth2Session(
            self.settings.client_id, self.settings.client_secret, redirect_uri=saved["redirect_uri"]
        )
        try:
            body = session.fetch_token(meta["token_endpoint"], code=code, timeout=self.timeout)
        except OAuthError as exc:
            raise AuthenticationRequired(f"The provider refused the code: {exc.error}") from None
        except (requests.RequestException, ValueError) as exc:
            raise TesseraError(f"The sign-in provider cannot be reached: {exc}") from None
        if "id_token" not in body:
            raise AuthenticationRequired("The provider sent no ID token")
        try:
            keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=self.timeout).json())
            token = jwt.decode(body["id_token"], keys, algorithms=["RS256", "ES256", "PS256"])
            jwt.JWTClaimsRegistry(
                leeway=60,
                iss={"essential": True, "value": self.settings.issuer},
                aud={"essential": True, "value": self.settings.client_id},
                nonce={"essential": True, "value": saved["nonce"]},
                email={"essential": True},
                exp={"essential": True},
            ).validate(token.claims)
            claims = token.claims
        except (JoseError, requests.RequestException, ValueError, KeyError) as exc:
            raise AuthenticationRequired(f"The ID token is not valid: {exc}") from None
        if claims.get("email_verified") is False:
            raise AuthenticationRequired("The provider has not verified this e-mail address")
        return dict(claims)


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def provision(ws: Any, settings: OidcSettings, claims: dict[str, Any]) -> str:
    """The id of the user the claims describe, created just in time; roles and teams
    follow the provider's claims through the configured maps."""
    email = str(claims["email"]).strip().lower()
    mapped = {settings.role_map[c] for c in _as_list(claims.get(settings.roles_claim)) if c in settings.role_map}
    role_names = sorted(mapped or set(settings.default_roles))
    ids = role_ids(ws)
    values: dict[str, Any] = {
        "full_name": str(claims.get("name") or email.split("@")[0])[:120],
        "roles": [ids[r] for r in role_names if r in ids],
    }
    if settings.teams_claim:
        teams = ws.snapshot().tables.main("team")
        wanted = _as_list(claims.get(settings.teams_claim))
        with read_transaction(ws.db) as conn:
            values["teams"] = (
                list(
                    conn.execute(
                        sa.select(teams.c.id).where(teams.c.name.in_(wanted), teams.c.deleted_at.is_(None))
                    ).scalars()
                )
                if wanted
                else []
            )
    users = ws.snapshot().tables.main("user")
    with read_transaction(ws.db) as conn:
        user_id = conn.execute(
            sa.select(users.c.id).where(sa.func.lower(users.c.email) == email, users.c.deleted_at.is_(None))
        ).scalar()
    if user_id is None:
        return ws.records.create(SYSTEM, "user", {"email": email, **values})["id"]
    ws.records.update(SYSTEM, "user", user_id, values)
    return user_id


def settings_from_config(config: Any) -> OidcSettings | None:
    if not (config.oidc_issuer and config.oidc_client_id):
        return None
    return OidcSettings(
        config.oidc_issuer,
        config.oidc_client_id,
        config.oidc_client_secret or "",
        config.oidc_roles_claim,
        dict(config.oidc_role_map),
        tuple(config.oidc_default_roles),
        config.oidc_teams_claim,
    )
