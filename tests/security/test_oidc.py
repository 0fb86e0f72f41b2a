"""Single sign-on against a local OpenID Connect provider stub."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from engine.app import create_app
from tests.conftest import Api, make_config
from tests.security.oidc_stub import OidcStub


@pytest.fixture
def sso(workspace, database_url, tmp_path):
    with OidcStub() as stub:
        config = make_config(
            database_url,
            tmp_path,
            oidc_issuer=stub.issuer,
            oidc_client_id=stub.client_id,
            oidc_client_secret=stub.client_secret,
            oidc_roles_claim="groups",
            oidc_role_map=(("crm-sales", "sales_rep"), ("crm-leads", "sales_manager")),
            oidc_default_roles=("executive",),
        )
        workspace.config = config
        yield stub, create_app(config, workspace).test_client()


def start(client):
    response = client.get("/api/v1/auth/oidc/login")
    assert response.status_code == 302
    query = parse_qs(urlparse(response.headers["Location"]).query)
    assert query["client_id"] == ["tessera"] and query["redirect_uri"][0].endswith("/api/v1/auth/oidc/callback")
    return query["state"][0], query["nonce"][0]


def test_first_sign_in_creates_the_user_with_mapped_roles(sso):
    stub, client = sso
    state, nonce = start(client)
    code = stub.issue_code(nonce, email="Nia@Corp.example", name="Nia Ng", groups=["crm-sales", "other"])
    answer = client.get("/api/v1/auth/oidc/callback", query_string={"code": code, "state": state})
    assert answer.status_code == 200, answer.get_json()
    me = Api(client, answer.get_json()["token"]).get("auth/me").get_json()
    assert me["email"] == "nia@corp.example" and me["full_name"] == "Nia Ng" and me["role_names"] == ["sales_rep"]
    # the provider is the source of truth for roles: the next sign-in follows its claims
    state, nonce = start(client)
    code = stub.issue_code(nonce, email="nia@corp.example", groups=[])
    token = client.get("/api/v1/auth/oidc/callback", query_string={"code": code, "state": state}).get_json()["token"]
    assert Api(client, token).get("auth/me").get_json()["role_names"] == ["executive"]


@pytest.mark.parametrize("tamper", ["nonce", "issuer", "state", "code", "unverified"])
def test_forged_or_replayed_answers_are_refused(sso, tamper):
    stub, client = sso
    state, nonce = start(client)
    claims = {"email": "eve@corp.example"}
    if tamper == "nonce":
        nonce = "not-the-nonce"
    if tamper == "issuer":
        claims["iss"] = "http://evil.example"
    if tamper == "unverified":
        claims["email_verified"] = False
    code = stub.issue_code(nonce, **claims)
    if tamper == "state":
        state = state[:-4] + "AAAA"
    if tamper == "code":
        code = "made-up"
    answer = client.get("/api/v1/auth/oidc/callback", query_string={"code": code, "state": state})
    assert answer.status_code == 401
    assert answer.headers["Content-Type"] == "application/problem+json"


def test_sso_is_404_when_not_configured(client):
    assert client.get("/api/v1/auth/oidc/login").status_code == 404
