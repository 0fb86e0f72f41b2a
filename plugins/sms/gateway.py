"""An HTTP SMS gateway described by an ``sms_gateway`` record: one message, one request.

The record says where (``url``, ``method``), how (``body_format``, ``body_template`` with
the placeholders ``{{ to }}``, ``{{ text }}``, ``{{ sender }}``, an authentication header)
and what counts as success (a 2xx answer containing ``success_match``; the message id at
``message_id_path`` of a JSON answer). Placeholder values are escaped for the body format,
so a message with quotes or ampersands cannot break the request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import jinja2
import requests
import sqlalchemy as sa
from jinja2.sandbox import SandboxedEnvironment

from engine.storage.database import read_transaction

GATEWAY_ENTITY = "sms_gateway"
USER_AGENT = "Tessera-SMS/1"
CONTENT_TYPES = {"json": "application/json", "form": "application/x-www-form-urlencoded"}


@dataclass(frozen=True)
class Answer:
    """What the gateway made of one message."""

    ok: bool
    status_code: int | None
    text: str
    message_id: str | None = None
    error: str | None = None
    #: False: sending again cannot help (a 4xx answer, a refused message)
    retry: bool = True


@dataclass(frozen=True)
class Gateway:
    id: str
    name: str
    url: str
    method: str = "POST"
    body_format: str = "json"
    body_template: str = ""
    sender: str | None = None
    default_region: str | None = None
    auth_header_name: str | None = None
    auth_header_value: str | None = None
    success_match: str | None = None
    message_id_path: str | None = None
    callback_token: str | None = None
    callback_id_field: str = "id"
    callback_status_field: str = "status"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Gateway:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in row.items() if k in names and v is not None})

    def render_body(self, to: str, text: str) -> str:
        """The request body (the query string for GET) with escaped placeholder values."""
        escape = _json_escape if self.body_format == "json" and self.method != "GET" else quote_plus
        env = _environment(escape)
        values = {"to": to, "text": text, "sender": self.sender or ""}
        return env.from_string(self.body_template).render(values)

    def send(self, to: str, text: str, delivery_id: str, timeout: float) -> Answer:
        """Send one message; a broken body template or an unreachable gateway is an Answer too."""
        try:
            body = self.render_body(to, text)
        except jinja2.TemplateError as exc:
            return Answer(False, None, "", error=f"gateway {self.name!r}: body template: {exc}", retry=False)
        headers = {"User-Agent": USER_AGENT, "X-Tessera-Delivery": delivery_id}
        if self.auth_header_name and self.auth_header_value:
            headers[self.auth_header_name] = self.auth_header_value
        url, data = self.url, body.encode()
        if self.method == "GET":
            url, data = f"{url}{'&' if '?' in url else '?'}{body}", b""
        else:
            headers["Content-Type"] = CONTENT_TYPES[self.body_format]
        try:
            response = requests.request(
                self.method, url, data=data or None, headers=headers, timeout=timeout, allow_redirects=False
            )
        except requests.Timeout:
            return Answer(False, None, "", error=f"no answer from the gateway within {timeout:g} s")
        except requests.RequestException as exc:
            return Answer(False, None, "", error=f"could not reach the gateway: {type(exc).__name__}")
        return self.judge(response.status_code, response.text)

    def judge(self, status: int, text: str) -> Answer:
        """Success: a 2xx answer containing ``success_match``; 408, 429 and 5xx are retried."""
        text = text[:2000]
        if not 200 <= status < 300:
            retry = status >= 500 or status in (408, 429)
            return Answer(False, status, text, error=f"HTTP {status}: {text[:300].strip()}".strip(": "), retry=retry)
        if self.success_match and self.success_match not in text:
            error = f"the gateway's answer does not contain {self.success_match!r}: {text[:300].strip()}"
            return Answer(False, status, text, error=error, retry=False)
        return Answer(True, status, text, message_id=self.message_id(text))

    def message_id(self, text: str) -> str | None:
        """The value at ``message_id_path`` (``messages.0.id``) of a JSON answer, if any."""
        if not self.message_id_path:
            return None
        try:
            value: Any = json.loads(text)
        except ValueError:
            return None
        for step in self.message_id_path.split("."):
            if isinstance(value, list) and step.isdigit() and int(step) < len(value):
                value = value[int(step)]
            elif isinstance(value, dict) and step in value:
                value = value[step]
            else:
                return None
        return None if value is None or isinstance(value, dict | list) else str(value)


def _json_escape(value: Any) -> str:
    return json.dumps(str(value))[1:-1]


def _environment(escape: Any) -> SandboxedEnvironment:
    return SandboxedEnvironment(finalize=lambda v: escape("" if v is None else str(v)), autoescape=False)


def gateways(ws: Any, name: str | None = None) -> list[Gateway]:
    """The active gateways by name (or the one called ``name``, active or not), secrets open.

    Read directly: the secrets are never revealed through the data-access layer, which
    serves users; only sending needs them."""
    snap = ws.snapshot()
    if GATEWAY_ENTITY not in snap.catalog.entities:
        return []
    table = snap.tables.main(GATEWAY_ENTITY)
    query = sa.select(table).where(table.c.deleted_at.is_(None)).order_by(table.c.name)
    query = query.where(table.c.name == name) if name is not None else query.where(table.c.active.is_(True))
    with read_transaction(ws.db) as conn:
        rows = [dict(row._mapping) for row in conn.execute(query)]
    for row in rows:
        for secret in ("auth_header_value", "callback_token"):
            if row.get(secret):
                row[secret] = ws.records.cipher.open(row[secret])
    return [Gateway.from_row(row) for row in rows]
