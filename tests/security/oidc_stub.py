"""A tiny OpenID Connect provider for tests: discovery, JWKS, token endpoint.

The test plays the browser: it reads the nonce from Tessera's authorization URL, asks the
stub for a code carrying the claims it wants, then calls Tessera's callback with it.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

from flask import Flask, jsonify, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server


class OidcStub:
    def __init__(self, client_id: str = "tessera", client_secret: str = "stub-secret"):
        self.client_id, self.client_secret = client_id, client_secret
        self.key = RSAKey.generate_key(2048, parameters={"kid": "stub-1"})
        self.codes: dict[str, dict[str, Any]] = {}
        app = Flask("oidc-stub")
        app.add_url_rule("/.well-known/openid-configuration", view_func=self.discovery)
        app.add_url_rule("/jwks", view_func=lambda: jsonify(KeySet([self.key]).as_dict(private=False)))
        app.add_url_rule("/token", view_func=self.token, methods=["POST"])
        self.server = make_server("127.0.0.1", 0, app)
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OidcStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()

    def discovery(self) -> Any:
        return jsonify(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
            }
        )

    def issue_code(self, nonce: str, **claims: Any) -> str:
        code = secrets.token_urlsafe(8)
        self.codes[code] = {"nonce": nonce, **claims}
        return code

    def token(self) -> Any:
        auth = request.authorization
        if auth is None or (auth.username, auth.password) != (self.client_id, self.client_secret):
            return jsonify({"error": "invalid_client"}), 401
        claims = self.codes.pop(request.form.get("code", ""), None)
        if claims is None:
            return jsonify({"error": "invalid_grant"}), 400
        now = int(time.time())
        payload = {
            "iss": claims.pop("iss", self.issuer),
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "sub": claims.get("email", "x"),
            **claims,
        }
        id_token = jwt.encode({"alg": "RS256", "kid": self.key.kid}, payload, self.key)
        return jsonify({"access_token": "at", "token_type": "Bearer", "id_token": id_token, "expires_in": 300})
