"""OpenAPI operations of signing in and of accounts (``/api/v1/auth``): tokens, API keys,
the second factor, impersonation, single sign-on, passwords, invitations and resets.

Operations a stranger may call (sign-in, redeeming a link, single sign-on) say
``security: []``; the others take the bearer token.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec

from engine.api.openapi import ID, data_schema, json_response, path_param, problem_responses, ref

COMMON = problem_responses(400, 401, 403, 404, 413, 429)
PUBLIC = problem_responses(400, 413, 422, 429)
TIME = {"type": "string", "format": "date-time"}
OPTIONAL_TIME = {"type": ["string", "null"], "format": "date-time"}
OPTIONAL_TEXT = {"type": ["string", "null"]}
DONE = {"204": {"description": "Done"}}

TOKEN_PROPERTIES: dict[str, Any] = {"token": {"type": "string"}, "expires_at": TIME}
TOKEN = {"type": "object", "required": ["token", "expires_at"], "properties": TOKEN_PROPERTIES}
API_KEY = {
    "type": "object",
    "required": ["id", "name", "prefix", "user", "created_at"],
    "properties": {
        "id": ID,
        "name": {"type": "string"},
        "prefix": {"type": "string", "description": "the key's first characters, to recognise it"},
        "user": {"type": "string"},
        "roles": {"type": ["array", "null"], "items": {"type": "string"}, "description": "null: all the user's"},
        "created_at": TIME,
        "expires_at": OPTIONAL_TIME,
        "revoked_at": OPTIONAL_TIME,
        "last_used_at": OPTIONAL_TIME,
        "key": {"type": "string", "description": "the key itself: in the answer to its creation only"},
    },
}
PASSWORD = {"type": "string", "writeOnly": True}
LINK_REDEMPTION = {
    "type": "object",
    "required": ["token", "password"],
    "properties": {"token": {"type": "string", "description": "from the e-mailed link"}, "password": PASSWORD},
}
CODE = {
    "type": "object",
    "required": ["code"],
    "properties": {"code": {"type": "string", "description": "the authenticator app's current code"}},
}


def operation(operation_id: str, tag: str, summary: str, responses: dict[str, Any], **more: Any) -> dict[str, Any]:
    """An operation object; ``more`` adds ``parameters``, ``requestBody``, ``security``..."""
    return {"operationId": operation_id, "tags": [tag], "summary": summary, "responses": responses, **more}


def request_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    """A JSON request body following ``schema``."""
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def add_auth_paths(spec: APISpec, user: dict[str, Any]) -> None:
    """Add the ``/api/v1/auth`` operations; ``user`` is the schema of a user record."""
    spec.components.schema("Token", TOKEN)
    spec.components.schema("ApiKey", API_KEY)
    add_accounts(spec, user)
    add_sign_in(spec, user)


def add_sign_in(spec: APISpec, user: dict[str, Any]) -> None:
    """Tokens, API keys, the second factor, impersonation and single sign-on."""
    token = json_response(ref("Token"))
    sign_in = {
        "type": "object",
        "required": ["email", "password"],
        "additionalProperties": False,
        "properties": {
            "email": {"type": "string"},
            "password": PASSWORD,
            "otp": {"type": "string", "description": "the second factor's code, when it is on"},
        },
    }
    operations: dict[str, dict[str, Any]] = {
        "/token": {
            "post": operation(
                "sign_in",
                "auth",
                "A bearer token for an e-mail address and password (401: wrong, or a code is due)",
                {"200": token, **PUBLIC, **problem_responses(401)},
                security=[],
                requestBody=request_body(sign_in),
            )
        },
        "/me": {
            "get": operation(
                "me",
                "auth",
                "The signed-in user, with role names and who impersonates them",
                {
                    "200": json_response(
                        {
                            "allOf": [
                                user,
                                {
                                    "type": "object",
                                    "required": ["role_names"],
                                    "properties": {
                                        "role_names": {"type": "array", "items": {"type": "string"}},
                                        "impersonator": OPTIONAL_TEXT,
                                    },
                                },
                            ]
                        }
                    ),
                    **COMMON,
                },
            )
        },
        "/keys": {
            "get": operation(
                "list_api_keys",
                "auth",
                "The caller's API keys (administrators: all)",
                {"200": json_response(data_schema(ref("ApiKey"))), **COMMON},
            ),
            "post": operation(
                "create_api_key",
                "auth",
                "Create an API key, limited to some of the caller's roles; the answer shows it once",
                {"201": json_response(ref("ApiKey"), "Created"), **COMMON, **problem_responses(422)},
                requestBody=request_body(
                    {
                        "type": "object",
                        "required": ["name"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1, "maxLength": 120},
                            "roles": {"type": "array", "items": {"type": "string"}},
                            "expires_at": TIME,
                        },
                    }
                ),
            ),
        },
        "/keys/{id}": {
            "delete": operation(
                "revoke_api_key", "auth", "Revoke an API key", {**DONE, **COMMON}, parameters=[path_param("id")]
            )
        },
        "/impersonate": {
            "post": operation(
                "impersonate",
                "auth",
                "A token acting as another user for an hour (administrators; audited)",
                {
                    "200": json_response(
                        {
                            "type": "object",
                            "required": ["token", "expires_at", "user"],
                            "properties": {**TOKEN_PROPERTIES, "user": {"type": "string"}},
                        }
                    ),
                    **COMMON,
                    **problem_responses(422),
                },
                requestBody=request_body(
                    {"type": "object", "required": ["user"], "additionalProperties": False, "properties": {"user": ID}}
                ),
            )
        },
        "/totp": {
            "post": operation(
                "start_totp",
                "auth",
                "Start turning the second factor on: a secret for the authenticator app",
                {
                    "200": json_response(
                        {
                            "type": "object",
                            "required": ["secret", "otpauth_uri"],
                            "properties": {"secret": {"type": "string"}, "otpauth_uri": {"type": "string"}},
                        }
                    ),
                    **COMMON,
                },
            ),
            "delete": operation(
                "disable_totp",
                "auth",
                "Turn the second factor off with a current code",
                {**DONE, **COMMON, **problem_responses(422)},
                requestBody=request_body(CODE),
            ),
        },
        "/totp/confirm": {
            "post": operation(
                "confirm_totp",
                "auth",
                "Turn the second factor on with the app's first code",
                {**DONE, **COMMON, **problem_responses(422)},
                requestBody=request_body(CODE),
            )
        },
        "/oidc/login": {
            "get": operation(
                "sso_login",
                "auth",
                "Single sign-on: redirects to the identity provider (404 when not configured)",
                {"302": {"description": "To the identity provider"}, **problem_responses(400, 404, 429)},
                security=[],
            )
        },
        "/oidc/callback": {
            "get": operation(
                "sso_callback",
                "auth",
                "Where the identity provider sends the browser back: a bearer token",
                {"200": token, **problem_responses(400, 401, 403, 404, 429)},
                security=[],
                parameters=[
                    {"name": "code", "in": "query", "schema": {"type": "string"}},
                    {"name": "state", "in": "query", "schema": {"type": "string"}},
                ],
            )
        },
        # last: fuzzing the document in order, revoking the token ends the run
        "/logout": {"post": operation("sign_out", "auth", "Revoke the bearer token", {**DONE, **COMMON})},
    }
    for path, item in operations.items():
        spec.path(path=f"/api/v1/auth{path}", operations=item)


def add_accounts(spec: APISpec, user: dict[str, Any]) -> None:
    """Passwords, invitations, password resets and an administrator's second-factor reset."""
    email = {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}}
    invitation = {
        "type": "object",
        "required": ["email"],
        "properties": {
            "email": {"type": "string", "format": "email"},
            "full_name": {"type": "string"},
            "roles": {"type": "array", "items": {"type": "string"}, "description": "names or ids"},
        },
        "description": "any other field of the user too; no password: the invited user chooses it",
    }
    operations: dict[str, dict[str, Any]] = {
        "/password": {
            "post": operation(
                "change_password",
                "auth",
                "Change the caller's own password",
                {**DONE, **COMMON, **problem_responses(422)},
                requestBody=request_body(
                    {
                        "type": "object",
                        "required": ["current_password", "new_password"],
                        "properties": {"current_password": PASSWORD, "new_password": PASSWORD},
                    }
                ),
            )
        },
        "/invitations": {
            "post": operation(
                "invite_user",
                "auth",
                "Create a user without a password and e-mail them a link to choose one (administrators)",
                {"201": json_response(user, "Invited"), **COMMON, **problem_responses(409, 422)},
                requestBody=request_body(invitation),
            )
        },
        "/invitations/accept": {
            "post": operation(
                "accept_invitation",
                "auth",
                "Choose a password through the invitation link",
                {**DONE, **PUBLIC},
                security=[],
                requestBody=request_body(LINK_REDEMPTION),
            )
        },
        "/password-reset": {
            "post": operation(
                "request_password_reset",
                "auth",
                "E-mail a reset link (the same answer whether or not the address has an account)",
                {"202": {"description": "Accepted"}, **PUBLIC},
                security=[],
                requestBody=request_body(email),
            )
        },
        "/password-reset/confirm": {
            "post": operation(
                "confirm_password_reset",
                "auth",
                "Set a new password through the reset link",
                {**DONE, **PUBLIC},
                security=[],
                requestBody=request_body(LINK_REDEMPTION),
            )
        },
    }
    for path, item in operations.items():
        spec.path(path=f"/api/v1/auth{path}", operations=item)
    spec.path(  # engine.api.users: a lost authenticator
        path="/api/v1/user/{id}/totp",
        operations={
            "delete": operation(
                "reset_user_totp",
                "auth",
                "Switch a user's second factor off without a code (administrators; audited)",
                {**DONE, **COMMON},
                parameters=[path_param("id")],
            )
        },
    )
