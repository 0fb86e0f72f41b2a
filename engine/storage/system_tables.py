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

#: the transactional outbox: external effects (e-mail, SMS, webhooks) written in the same
#: transaction as the change that caused them, dispatched afterwards
outbox = sa.Table(
    "tessera_outbox",
    system_metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("payload", JSON_TYPE, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("sent_at", UTCDateTime()),
    sa.Column("last_error", sa.Text()),
    sa.Index("ix_tessera_outbox_state", "state", "created_at"),
)

SYSTEM_TABLE_NAMES = frozenset(system_metadata.tables) | {"tessera_alembic_version"}
