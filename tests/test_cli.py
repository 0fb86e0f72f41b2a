"""The ``tessera`` command line: one-line errors, exit codes 0/1/2, a real server."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.actor import Actor
from engine.cli import main
from engine.config import load_config
from engine.security import totp
from engine.security.users import find_user
from engine.storage import system_tables as st
from engine.workspace import Workspace
from tests.conftest import PASSWORD


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_init_creates_the_admin_and_user_commands_manage_users(cli_env):
    result = run("init", "--admin-email", "boss@test.dev", "--admin-password", PASSWORD)
    assert result.exit_code == 0, result.output
    assert "created administrator boss@test.dev" in result.output
    assert run("init").exit_code == 0  # idempotent upgrade

    assert (
        run("user", "add", "ann@test.dev", "--name", "Ann", "--role", "sales_rep", "--password", PASSWORD).exit_code
        == 0
    )
    duplicate = run("user", "add", "ann@test.dev", "--password", PASSWORD)
    assert duplicate.exit_code == 1 and duplicate.output.startswith(
        "error: A user with email ann@test.dev already exists"
    )
    weak = run("user", "add", "weak@test.dev", "--password", "123")
    assert weak.exit_code == 1 and "at least 10 characters" in weak.output
    assert run("user", "role", "ann@test.dev", "sales_manager,presales").exit_code == 0
    unknown_role = run("user", "role", "ann@test.dev", "wizard")
    assert unknown_role.exit_code == 1 and "Unknown role(s): wizard" in unknown_role.output
    assert run("user", "passwd", "ann@test.dev", "--password", "Another-pass-2").exit_code == 0
    assert run("user", "passwd", "nobody@test.dev", "--password", "Another-pass-2").exit_code == 1


def test_user_reset_totp_switches_a_lost_second_factor_off(cli_env):
    assert run("init", "--admin-email", "boss@test.dev", "--admin-password", PASSWORD).exit_code == 0
    ws = Workspace(load_config(), meta_check_interval=0)
    try:
        boss = Actor(find_user(ws, "boss@test.dev")["id"])
        secret = totp.start(ws, boss, "boss@test.dev")["secret"]
        totp.confirm(ws, boss, {"code": pyotp.TOTP(secret).now()})

        result = run("user", "reset-totp", "boss@test.dev")
        assert (result.exit_code, result.output) == (
            0,
            "second factor of boss@test.dev is off; they sign in with their password and may set it up again\n",
        )
        assert not totp.is_enabled(ws, boss)
        with ws.db.connect() as conn:
            actor, action = conn.execute(
                sa.select(st.audit.c.actor, st.audit.c.action).where(st.audit.c.action == "totp_reset")
            ).one()
        assert (actor, action) == (None, "totp_reset")  # the system
    finally:
        ws.close()
    again = run("user", "reset-totp", "boss@test.dev")
    assert (again.exit_code, again.output) == (1, "error: boss@test.dev has no second factor to reset\n")
    unknown = run("user", "reset-totp", "nobody@test.dev")
    assert (unknown.exit_code, unknown.output) == (1, "error: no user with email nobody@test.dev\n")


def test_commands_on_an_uninitialised_database_say_so(cli_env):
    result = run("user", "add", "x@test.dev", "--password", PASSWORD)
    assert result.exit_code == 1
    assert "is not initialised; run 'tessera init' first" in result.output


def test_packs_list_and_show(cli_env):
    listed = run("packs", "list")
    assert listed.exit_code == 0 and "testkit" in listed.output and "system" in listed.output
    shown = run("packs", "show", "testkit")
    assert shown.exit_code == 0 and "entity gadget:" in shown.output
    missing = run("packs", "show", "nope")
    assert missing.exit_code == 1 and "no pack 'nope'" in missing.output


def test_bad_database_url_is_one_line_not_a_traceback(cli_env, monkeypatch):
    monkeypatch.setenv("TESSERA_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    result = run("init")
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot use the database")
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [("init",), ("migrate",), ("export", "gadget"), ("user", "add", "a@test.dev")])
def test_a_file_that_is_not_a_database_is_one_line(cli_env, monkeypatch, tmp_path, command):
    (tmp_path / "text.sqlite").write_text("a note someone saved where the database should be\n")
    monkeypatch.setenv("TESSERA_DATABASE_URL", f"sqlite:///{tmp_path / 'text.sqlite'}")
    result = run(*command)
    assert (result.exit_code, result.output) == (1, "error: cannot use the database: file is not a database\n")


def test_a_sqlite_file_in_a_missing_folder_says_where_to_look(cli_env, monkeypatch, tmp_path):
    monkeypatch.setenv("TESSERA_DATABASE_URL", f"sqlite:///{tmp_path / 'no-such-folder' / 'crm.db'}")
    result = run("init")
    assert result.exit_code == 1
    assert result.output == (
        "error: cannot use the database: unable to open database file (does the folder of the SQLite file"
        " in TESSERA_DATABASE_URL exist, and may this user write it?)\n"
    )


def test_serve_without_jobs_starts_no_job_runner(cli_env, monkeypatch):
    # a restore drill serves a copy of production: it must not send production's e-mails
    from engine.server import _Server

    assert run("init").exit_code == 0
    started: list[object] = []
    monkeypatch.setattr("engine.automation.jobs.start_in_process", lambda ws, **options: started.append(ws))
    monkeypatch.setattr("engine.settling.settle", lambda workspaces: None)
    _Server({"bind": "127.0.0.1:0"}, jobs=False).load()
    assert started == []
    _Server({"bind": "127.0.0.1:0"}).load()
    assert len(started) == 1
    assert "--no-jobs" in run("serve", "--help").output


def test_usage_errors_exit_2(cli_env):
    assert run("serve", "--port", "not-a-number").exit_code == 2
    assert run("no-such-command").exit_code == 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_serve_runs_a_production_server(cli_env, backend):
    assert run("init", "--admin-email", "boss@test.dev", "--admin-password", PASSWORD).exit_code == 0
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "serve", "--port", str(port), "--workers", "2"],
        env={**os.environ, **cli_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).parents[1],
    )
    try:
        body = None
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    body = json.load(response)
                    server_header = response.headers.get("Server", "")
                break
            except OSError:
                time.sleep(0.2)
        assert body == {"status": "ok"}
        assert "gunicorn" in server_header.lower()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            method="POST",
            data=json.dumps({"email": "boss@test.dev", "password": PASSWORD}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert "token" in json.load(response)
        # a client pausing between two requests on one connection (as a browser, a proxy or a
        # load test does) finds it still open: no "connection reset" on the second request
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for pause in (0, 3):
            time.sleep(pause)
            connection.request("GET", "/healthz")
            answer = connection.getresponse()
            assert answer.status == 200 and json.loads(answer.read()) == {"status": "ok"}
        connection.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
