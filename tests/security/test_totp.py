"""The second factor when its secret cannot be opened (sealed under another
TESSERA_SECRET_KEY, as after a restore under the wrong key): a refused code, never an error.
And an administrator's reset of someone's second factor (``DELETE /api/v1/user/ID/totp``):
the user signs in with their password alone, the audit trail names the administrator."""

from __future__ import annotations

import logging

import pyotp
import pytest
import sqlalchemy as sa

from engine.security.users import create_user
from engine.storage import system_tables as st
from engine.storage.encryption import FieldCipher
from tests.conftest import PASSWORD, Api


def test_a_totp_secret_under_another_key_refuses_the_code_with_a_log_line(
    client, rep, workspace, caplog: pytest.LogCaptureFixture
) -> None:
    secret = rep.post("auth/totp").get_json()["secret"]
    code = pyotp.TOTP(secret)
    assert rep.post("auth/totp/confirm", {"code": code.now()}).status_code == 204
    other = FieldCipher("another-secret-key-" + "q" * 32, previous=[])
    with workspace.db.begin() as conn:  # as if restored under another TESSERA_SECRET_KEY
        conn.execute(st.credential.update().values(totp_secret=other.seal(secret)))

    credentials = {"email": "rep@test.dev", "password": PASSWORD, "otp": code.now()}
    with caplog.at_level(logging.WARNING, logger="tessera.security"):
        signed_in = client.post("/api/v1/auth/token", json=credentials)
    assert signed_in.status_code == 401
    assert "a TOTP secret cannot be opened" in caplog.text
    assert rep.delete("auth/totp", json={"code": code.now()}).status_code == 422


def turn_on(user: Api) -> pyotp.TOTP:
    """Switch the signed-in user's second factor on; their authenticator app."""
    code = pyotp.TOTP(user.post("auth/totp").get_json()["secret"])
    assert user.post("auth/totp/confirm", {"code": code.now()}).status_code == 204
    return code


def user_id(user: Api) -> str:
    found: str = user.get("auth/me").get_json()["id"]
    return found


def test_an_admin_resets_a_lost_second_factor_and_the_user_signs_in_with_the_password(
    client, admin, rep, caplog: pytest.LogCaptureFixture
) -> None:
    turn_on(rep)
    credentials = {"email": "rep@test.dev", "password": PASSWORD}
    assert client.post("/api/v1/auth/token", json=credentials).status_code == 401  # the phone is gone
    rep_id, admin_id = user_id(rep), user_id(admin)

    with caplog.at_level(logging.INFO, logger="tessera.security"):
        assert admin.delete(f"user/{rep_id}/totp").status_code == 204
    assert f"the second factor of rep@test.dev (user {rep_id}) was reset by {admin_id}" in caplog.text
    assert client.post("/api/v1/auth/token", json=credentials).status_code == 200
    [entry] = admin.get("admin/audit?entity=auth&action=totp_reset").get_json()["data"]
    assert (entry["actor"], entry["record_id"]) == (admin_id, rep_id)
    again = admin.delete(f"user/{rep_id}/totp")
    assert again.status_code == 400
    assert again.get_json()["detail"] == "rep@test.dev has no second factor to reset"
    turn_on(rep)  # and they may set it up again
    assert client.post("/api/v1/auth/token", json=credentials).status_code == 401


def test_a_reset_drops_a_secret_the_user_had_started_to_set_up(workspace, admin, rep) -> None:
    rep.post("auth/totp")  # started, never confirmed
    assert admin.delete(f"user/{user_id(rep)}/totp").status_code == 204
    with workspace.db.connect() as conn:
        assert conn.execute(sa.select(st.credential.c.totp_secret)).scalars().all() == [None, None]


def test_only_administrators_reset_a_second_factor_and_never_by_impersonation(client, workspace, admin, rep) -> None:
    turn_on(rep)
    rep_id = user_id(rep)
    refused = rep.delete(f"user/{rep_id}/totp")  # not even their own: turning it off takes a code
    assert refused.status_code == 403
    assert refused.get_json()["detail"] == "Only administrators may reset a second factor"
    boss = create_user(workspace, "boss@test.dev", "Bo Boss", PASSWORD, ["admin"])
    token = admin.post("auth/impersonate", {"user": boss["id"]}).get_json()["token"]
    as_boss = Api(client, token)  # an administrator's rights, in another administrator's name
    impersonated = as_boss.delete(f"user/{rep_id}/totp")
    assert impersonated.status_code == 403
    assert impersonated.get_json()["detail"] == "Stop impersonating before resetting a second factor"
    credentials = {"email": "rep@test.dev", "password": PASSWORD}
    assert client.post("/api/v1/auth/token", json=credentials).status_code == 401  # still on
    assert admin.get("admin/audit?entity=auth&action=totp_reset").get_json()["data"] == []


def test_resetting_the_second_factor_of_an_unknown_or_deleted_user_is_404(admin, rep) -> None:
    assert admin.delete("user/no-such-user/totp").status_code == 404
    turn_on(rep)
    rep_id = user_id(rep)
    assert admin.delete(f"user/{rep_id}").status_code == 204  # to the trash
    gone = admin.delete(f"user/{rep_id}/totp")
    assert gone.status_code == 404 and gone.get_json()["detail"] == f"No user with id {rep_id!r}"
