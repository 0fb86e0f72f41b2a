"""Administration endpoints (``/api/v1/admin``): the audit trail search, the job queue."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from engine.api.context import actor, workspace
from engine.automation import outbox
from engine.security.audit_search import search_audit

bp = Blueprint("admin", __name__, url_prefix="/api/v1/admin")


@bp.get("/audit")
def audit() -> Any:
    return jsonify(search_audit(workspace(), actor(), request.args.to_dict()))


@bp.get("/jobs")
def jobs() -> Any:
    return jsonify(outbox.list_jobs(workspace(), actor(), request.args.to_dict()))


@bp.get("/jobs/metrics")
def job_metrics() -> Any:
    return jsonify(outbox.job_metrics(workspace(), actor()))


@bp.post("/jobs/<job_id>/retry")
def retry_job(job_id: str) -> Any:
    return jsonify(outbox.retry_job(workspace(), actor(), job_id))


@bp.post("/jobs/<job_id>/discard")
def discard_job(job_id: str) -> Any:
    return jsonify(outbox.discard_job(workspace(), actor(), job_id))


@bp.get("/jobs/<job_id>/deliveries")
def job_deliveries(job_id: str) -> Any:
    return jsonify(outbox.job_deliveries(workspace(), actor(), job_id))
