"""The engine's own tables (``tessera_*``). Alembic (``migrations/``) creates and upgrades them.

Keep this module and the Alembic revisions in step: a test compares them.
"""

from __future__ import annotations

import sqlalchemy as sa

from engine.storage.columns import JSON_TYPE, UTCDateTime, id_type

system_metadata = sa.MetaData()

#: one row: the metadata version every process compares before serving a request
meta_state = sa.Table(
    "tessera_meta_state",
    system_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("changed_at", UTCDateTime(), nullable=False),
)

overlay = sa.Table(
    "tessera_overlay",
    system_metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("target", sa.String(64), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("document", JSON_TYPE, nullable=False),
    sa.Column("disabled", sa.Boolean(create_constraint=False), nullable=False, default=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", id_type()),
    sa.UniqueConstraint("kind", "target", "name", name="uq_tessera_overlay_kind_target_name"),
)

series = sa.Table(
    "tessera_series",
    system_metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

idempotency = sa.Table(
    "tessera_idempotency",
    system_metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("principal", sa.String(64), primary_key=True),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("record_id", id_type(), nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

audit = sa.Table(
    "tessera_audit",
    system_metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", id_type()),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("record_id", id_type(), nullable=False),
    sa.Column("changes", JSON_TYPE),
    sa.Column("source", sa.String(255)),
    #: the administrator acting as ``actor`` (impersonation), else null
    sa.Column("impersonator", id_type()),
    sa.Index("ix_tessera_audit_record", "entity", "record_id", "at"),
)

credential = sa.Table(
    "tessera_credential",
    system_metadata,
    sa.Column("user_id", id_type(), primary_key=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("changed_at", UTCDateTime(), nullable=False),
    #: TOTP second factor: the shared secret (encrypted) and whether sign-in requires it
    sa.Column("totp_secret", sa.Text()),
    sa.Column("totp_enabled", sa.Boolean(create_constraint=False), nullable=False, server_default=sa.false()),
    #: the time step of the last code a sign-in used: a code is good once
    sa.Column("totp_step", sa.BigInteger()),
)

token = sa.Table(
    "tessera_token",
    system_metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", id_type(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime()),
    sa.Column("impersonator", id_type()),
    sa.Index("ix_tessera_token_user", "user_id"),
)

api_key = sa.Table(
    "tessera_api_key",
    system_metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("user_id", id_type(), nullable=False),
    sa.Column("roles", JSON_TYPE),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", id_type()),
    sa.Column("expires_at", UTCDateTime()),
    sa.Column("revoked_at", UTCDateTime()),
    sa.Column("last_used_at", UTCDateTime()),
    sa.Index("ix_tessera_api_key_user", "user_id"),
)

#: single-use links (invitations, password resets): only the hash of the token is kept
action_token = sa.Table(
    "tessera_action_token",
    system_metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("user_id", id_type(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("used_at", UTCDateTime()),
    sa.Index("ix_tessera_action_token_user", "user_id"),
)

#: the transactional outbox: external effects (e-mail, SMS, webhooks, plugin jobs) written in
#: the same transaction as the change that caused them, dispatched afterwards. The database
#: is the source of truth; a job queue (RQ) only executes. ``key`` makes a retried effect a
#: no-op (one row per effect); ``available_at`` is when the next attempt may run.
outbox = sa.Table(
    "tessera_outbox",
    system_metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("payload", JSON_TYPE, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending running sent failed discarded
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("sent_at", UTCDateTime()),
    sa.Column("last_error", sa.Text()),
    sa.Column("key", sa.String(255)),
    sa.Column("available_at", UTCDateTime()),
    sa.Column("entity", sa.String(64)),
    sa.Column("record_id", id_type()),
    sa.Index("ix_tessera_outbox_state", "state", "created_at"),
    sa.Index("ix_tessera_outbox_due", "state", "available_at"),
    sa.Index("uq_tessera_outbox_key", "key", unique=True),
)

#: one row per delivery attempt of an outbox row (the webhook delivery log, job failures)
delivery = sa.Table(
    "tessera_delivery",
    system_metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("outbox_id", id_type(), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.Text()),
    sa.Column("duration_ms", sa.Integer),
    sa.Index("ix_tessera_delivery_outbox", "outbox_id", "at"),
)

#: timers on records: rule timers (``start_timer``) and SLA milestones and escalation levels.
#: One row per (record, name): starting a timer again moves it.
timer = sa.Table(
    "tessera_timer",
    system_metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("record_id", id_type(), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("due_at", UTCDateTime(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending fired cancelled
    sa.Column("payload", JSON_TYPE),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("fired_at", UTCDateTime()),
    sa.UniqueConstraint("entity", "record_id", "name", name="uq_tessera_timer_record_name"),
    sa.Index("ix_tessera_timer_due", "state", "due_at"),
)

#: the SLA clock of one milestone of one record
sla_clock = sa.Table(
    "tessera_sla_clock",
    system_metadata,
    sa.Column("entity", sa.String(64), primary_key=True),
    sa.Column("record_id", id_type(), primary_key=True),
    sa.Column("milestone", sa.String(64), primary_key=True),
    sa.Column("policy", sa.String(120), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("target_seconds", sa.Integer, nullable=False),
    sa.Column("due_at", UTCDateTime()),
    sa.Column("paused_at", UTCDateTime()),
    sa.Column("paused_seconds", sa.Integer, nullable=False),
    sa.Column("met_at", UTCDateTime()),
    sa.Column("breached_at", UTCDateTime()),
    sa.Column("level", sa.Integer, nullable=False),
)

#: scheduled rules that ran, one row per (rule, record, period): a second tick sends nothing twice
schedule_run = sa.Table(
    "tessera_schedule_run",
    system_metadata,
    sa.Column("rule", sa.String(200), primary_key=True),
    sa.Column("record_id", sa.String(36), primary_key=True),  # '' for a cron rule without records
    sa.Column("period", sa.String(64), primary_key=True),
    sa.Column("ran_at", UTCDateTime(), nullable=False),
)

#: approval requests: one row per step of one submission, in order
approval = sa.Table(
    "tessera_approval",
    system_metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("record_id", id_type(), nullable=False),
    sa.Column("process", sa.String(120), nullable=False),
    sa.Column("submission", id_type(), nullable=False),
    sa.Column("step", sa.String(120), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # waiting pending approved rejected recalled skipped
    sa.Column("approver_user", id_type()),
    sa.Column("approver_role", sa.String(64)),
    sa.Column("submitted_by", id_type()),
    sa.Column("submitted_at", UTCDateTime(), nullable=False),
    sa.Column("decided_by", id_type()),
    sa.Column("decided_at", UTCDateTime()),
    sa.Column("comment", sa.Text()),
    sa.Index("ix_tessera_approval_record", "entity", "record_id", "submitted_at"),
)

#: round-robin cursors of assignment rules (the last user chosen per rule)
assignment_cursor = sa.Table(
    "tessera_assignment_cursor",
    system_metadata,
    sa.Column("rule", sa.String(200), primary_key=True),
    sa.Column("last_user", id_type()),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

#: normalised match keys of the fields duplicate rules compare (engine.storage.duplicates):
#: one row per record, field and normaliser, so a duplicate check is an index look-up
match_key = sa.Table(
    "tessera_match_key",
    system_metadata,
    sa.Column("entity", sa.String(64), primary_key=True),
    sa.Column("field", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),  # the normaliser, and its version after a change: name:v2
    sa.Column("record_id", id_type(), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
    sa.Index("ix_tessera_match_key_value", "kind", "value"),
)

#: the (entity, field, normaliser) triples whose keys exist for every record (filled once)
match_key_state = sa.Table(
    "tessera_match_key_state",
    system_metadata,
    sa.Column("entity", sa.String(64), primary_key=True),
    sa.Column("field", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("built_at", UTCDateTime(), nullable=False),
)

#: signing secrets of inbound capture hooks (engine.capture), encrypted like secret fields
hook_secret = sa.Table(
    "tessera_hook_secret",
    system_metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("secret", sa.Text(), nullable=False),
    sa.Column("set_at", UTCDateTime(), nullable=False),
    sa.Column("set_by", id_type()),
)

#: the secret address of each user's iCalendar feed (engine.security.feed_tokens): the token's
#: hash to find it, and the token sealed like secret fields so its owner can see it again
calendar_feed = sa.Table(
    "tessera_calendar_feed",
    system_metadata,
    sa.Column("user_id", id_type(), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("token", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

#: uploaded files (engine.files): one row per upload into a record's file field. The content
#: is kept by the blob store under its sha256; a new upload never removes an older one, so
#: earlier versions stay downloadable and rules can compare them.
file = sa.Table(
    "tessera_file",
    system_metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("record_id", id_type(), nullable=False),
    sa.Column("field", sa.String(64), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("content_type", sa.String(255), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", id_type()),
    sa.Index("ix_tessera_file_record", "entity", "record_id", "created_at"),
)

SYSTEM_TABLE_NAMES = frozenset(system_metadata.tables) | {"tessera_alembic_version"}
