"""The gateway's delivery status callback: ``/public/plugins/sms/status/GATEWAY?token=T``.

Gateways report a message's fate later (delivered, failed). The call is accepted only
with the gateway's ``callback_token``; it names the message by the id the gateway gave
when it accepted it (field ``callback_id_field``, JSON body, form or query string) and its
status (``callback_status_field``). The matching ``sms_message`` record becomes
``delivered`` or ``failed``; a status we do not know is kept in ``gateway_response`` only.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any

from flask import Blueprint, jsonify, request

from engine.actor import SYSTEM
from engine.api.context import workspace
from engine.errors import BadRequest, NotFound, PermissionDenied
from plugins.sms.channel import LOG_ENTITY
from plugins.sms.gateway import gateways

bp = Blueprint("plugin_sms", __name__, url_prefix="/public/plugins/sms")

DELIVERED = {"delivered", "delivrd", "delivered_to_handset", "success", "ok", "read"}
FAILED = {"failed", "undelivered", "undeliv", "undeliverable", "rejected", "rejectd", "expired", "expird", "error"}


def status_of(reported: str) -> str | None:
    """``delivered``, ``failed`` or None (an intermediate status such as ``queued``)."""
    word = reported.strip().lower()
    return "delivered" if word in DELIVERED else "failed" if word in FAILED else None


def _fields() -> dict[str, Any]:
    data: dict[str, Any] = dict(request.args)
    data.pop("token", None)
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise BadRequest("The status callback must be a JSON object, a form or a query string")
        data.update(body)
    else:
        data.update(request.form.to_dict())
    return data


@bp.route("/status/<name>", methods=["POST", "GET"])
def status_callback(name: str) -> Any:
    ws = workspace()
    found = gateways(ws, name)
    if not found:
        raise NotFound(f"There is no SMS gateway {name!r}")
    gateway = found[0]
    token = request.args.get("token") or request.headers.get("X-Callback-Token") or ""
    if not gateway.callback_token or not hmac.compare_digest(token.encode(), gateway.callback_token.encode()):
        raise PermissionDenied("The callback token is missing or wrong")
    data = _fields()
    message_id, reported = data.get(gateway.callback_id_field), data.get(gateway.callback_status_field)
    if message_id in (None, "") or reported in (None, ""):
        raise BadRequest(
            f"The callback needs the fields {gateway.callback_id_field!r} (message id) "
            f"and {gateway.callback_status_field!r} (status)"
        )
    messages = ws.records.list(SYSTEM, LOG_ENTITY, {"gateway_message_id": str(message_id)}).data
    if not messages:
        raise NotFound(f"No SMS has the gateway id {message_id!r}")
    status = status_of(str(reported))
    values: dict[str, Any] = {"gateway_response": f"status callback: {reported}"[:2000]}
    if status == "delivered":
        values.update(status="delivered", delivered_at=dt.datetime.now(dt.UTC).isoformat())
    elif status == "failed":
        values.update(status="failed", error=f"the gateway reported {reported}")
    ws.records.update(SYSTEM, LOG_ENTITY, messages[0]["id"], values)
    return jsonify({"id": messages[0]["id"], "status": status or messages[0]["status"]})
