"""The second factor when its secret cannot be opened (sealed under another
TESSERA_SECRET_KEY, as after a restore under the wrong key): a refused code, never an error."""

from __future__ import annotations

import logging

import pyotp
import pytest

from engine.storage import system_tables as st
from engine.storage.encryption import FieldCipher
from tests.conftest import PASSWORD


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
