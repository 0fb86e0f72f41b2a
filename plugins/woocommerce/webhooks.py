"""The shop's webhooks: ``POST /public/plugins/woocommerce/webhook/SHOP``.

Set up in WooCommerce (Settings > Advanced > Webhooks) with the topics ``order.created``,
``order.updated``, ``product.created`` and ``product.updated``, delivery URL
``https://CRM/public/plugins/woocommerce/webhook/SHOP`` and the shop record's webhook
secret. A delivery is accepted only with a valid ``X-WC-Webhook-Signature`` (base64
HMAC-SHA256 of the raw body); it is applied at once, as a pull sync would apply it (an
object that cannot be imported is refused and kept in the dead-letter list). The
ping WooCommerce sends when a webhook is saved (form body ``webhook_id=N``) is answered 200.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from flask import Blueprint, jsonify, request

from engine.api.context import workspace
from engine.errors import BadRequest, NotFound, PermissionDenied, TesseraError, ValidationError
from plugins.woocommerce.failures import record_failure, resolve
from plugins.woocommerce.mapping import BadShopData, apply_order, apply_product
from plugins.woocommerce.store import stores

bp = Blueprint("plugin_woocommerce", __name__, url_prefix="/public/plugins/woocommerce")

APPLY = {"order": apply_order, "product": apply_product}


@bp.post("/webhook/<name>")
def receive(name: str) -> Any:
    ws = workspace()
    found = stores(ws, name)
    if not found or not found[0].active:
        raise NotFound(f"There is no active WooCommerce shop {name!r}")
    store = found[0]
    topic = request.headers.get("X-WC-Webhook-Topic", "")
    body = request.get_data(cache=False)
    if not topic and parse_qs(body.decode(errors="replace")).get("webhook_id"):
        return jsonify({"status": "pong"})  # the ping of a newly saved webhook
    if not store.signature_ok(body, request.headers.get("X-WC-Webhook-Signature")):
        raise PermissionDenied("The webhook signature is missing or wrong")
    resource, _, event = topic.partition(".")
    if resource not in APPLY or event not in ("created", "updated", "restored"):
        return jsonify({"status": "ignored", "topic": topic})
    try:
        data = json.loads(body)
    except ValueError:
        raise BadRequest("The webhook body is not JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("The webhook body must be a JSON object")
    try:
        record_id = APPLY[resource](ws, data)
    except BadShopData as exc:
        record_failure(ws, store.id, f"{resource}s", data, str(exc), via="webhook")
        raise ValidationError(f"The shop's {resource} cannot be imported: {exc}") from None
    except TesseraError as exc:
        record_failure(ws, store.id, f"{resource}s", data, str(exc), via="webhook")
        raise
    resolve(ws, store.id, f"{resource}s", data)
    return jsonify({"status": "imported", "topic": topic, "id": record_id})
