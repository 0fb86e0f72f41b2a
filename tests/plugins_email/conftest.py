"""Fixtures of the e-mail and chat plugin tests: a workspace with the plugins' packs and
the test pack ``mail_kit``, a local SMTP server (aiosmtpd) and a fake OAuth2 token endpoint."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller

from engine.app import create_app
from engine.security.users import create_user, ensure_roles
from engine.workspace import Workspace
from tests.conftest import TEST_PACKS, make_config, sign_in

MAIL_PACKS = Path(__file__).parent / "packs"


class Inbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def mail_workspace(database_url: str, tmp_path: Path, smtp_port: int, **smtp: str) -> Workspace:
    """An installed workspace of the ``mail_kit`` test pack sending through the local SMTP
    server on ``smtp_port`` (``smtp_user``/``smtp_password`` when it wants a sign-in), with
    one admin, ``admin@test.dev``."""
    config = make_config(
        database_url,
        tmp_path,
        packs=("mail_kit",),
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_from="crm@example.com",
        public_url="http://crm.test",
        **smtp,
    ).with_overrides(extra_pack_paths=(TEST_PACKS, MAIL_PACKS))
    ws = Workspace(config, meta_check_interval=0)
    ws.install()
    ensure_roles(ws)
    create_user(ws, "admin@test.dev", "Ada Admin", "Test-password-1", ["admin"])
    return ws


@pytest.fixture
def mail_ws(database_url: str, tmp_path: Path, smtp: tuple[Inbox, int]) -> Iterator[Workspace]:
    ws = mail_workspace(database_url, tmp_path, smtp[1])
    yield ws
    ws.close()


@pytest.fixture
def mail_client(mail_ws: Workspace) -> Any:
    return create_app(mail_ws.config, mail_ws).test_client()


@pytest.fixture
def mail_admin(mail_client: Any) -> Any:
    return sign_in(mail_client, "admin@test.dev")


class TokenEndpoint:
    """A fake OAuth2 token endpoint: trades ``refresh_token`` for an access token (and a new
    refresh token), and remembers the forms it received."""

    def __init__(self, refresh_token: str, access_token: str, rotated: str | None = None):
        self.refresh_token, self.access_token, self.rotated = refresh_token, access_token, rotated
        self.requests: list[dict[str, str]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                endpoint.requests.append(form)
                if form.get("grant_type") == "refresh_token" and form.get("refresh_token") == endpoint.refresh_token:
                    body: dict[str, Any] = {"access_token": endpoint.access_token, "expires_in": 3600}
                    if endpoint.rotated:
                        body["refresh_token"] = endpoint.rotated
                    status = 200
                else:
                    body, status = {"error": "invalid_grant", "error_description": "Token has been revoked"}, 400
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
