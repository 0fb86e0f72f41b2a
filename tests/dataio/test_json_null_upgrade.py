"""Null json and multi_enum fields stored before revision 0010 as the JSON text ``null``
become SQL NULL: on upgrade (the revision), and when an archive made before it is restored;
``field == null`` then finds them. An archive of this revision restores exactly. SQLite and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from engine.dataio.backup import create_backup
from engine.dataio.restore import restore_backup
from engine.workspace import Workspace
from tests.conftest import make_config
from tests.dataio.test_backup import _rewrite


def _stored_before_0010(ws: Workspace, admin: Any) -> str:
    """A gadget whose null fields are held as JSON ``null``, as revision 0009 wrote them."""
    made = admin.post("gadget", {"name": "sent null", "specs": None, "tags": None})
    assert made.status_code == 201, made.get_json()
    table = ws.snapshot().tables.main("gadget")
    with ws.db.begin() as conn:
        conn.execute(table.update().where(table.c.id == made.get_json()["id"]).values(specs=sa.JSON.NULL))
        conn.execute(table.update().where(table.c.id == made.get_json()["id"]).values(tags=sa.JSON.NULL))
    return str(made.get_json()["id"])


def _null_names(admin: Any, field: str) -> list[str]:
    reply = admin.get(f"gadget?filter={field} == null")
    assert reply.status_code == 200, reply.get_json()
    return [r["name"] for r in reply.get_json()["data"]]


def _sql_nulls(url: str, record_id: str) -> tuple[bool, bool]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT specs IS NULL, tags IS NULL FROM gadget WHERE id = :id"), {"id": record_id}
        ).one()
    engine.dispose()
    return bool(row[0]), bool(row[1])


def test_upgrading_turns_stored_json_nulls_into_sql_null(workspace: Workspace, admin: Any) -> None:
    record_id = _stored_before_0010(workspace, admin)
    assert _null_names(admin, "specs") == []  # what users of revision 0009 got
    with workspace.db.begin() as conn:  # the database of revision 0009 (0011 added a column)
        conn.execute(sa.text("UPDATE tessera_alembic_version SET version_num = '0009'"))
        conn.execute(sa.text("ALTER TABLE tessera_credential DROP COLUMN totp_step"))
    workspace.install()
    assert _null_names(admin, "specs") == ["sent null"]
    assert _null_names(admin, "tags") == ["sent null"]
    assert admin.get(f"gadget/{record_id}").get_json()["specs"] is None


def test_an_archive_made_before_0010_restores_its_json_nulls_as_sql_null(
    workspace: Workspace, admin: Any, tmp_path: Path
) -> None:
    record_id = _stored_before_0010(workspace, admin)
    create_backup(workspace, tmp_path / "now.zip")
    _rewrite(tmp_path / "now.zip", tmp_path / "old.zip", {"schema_revision": "0009"})
    for archive, expected in (("now.zip", (False, False)), ("old.zip", (True, True))):
        target = make_config(f"sqlite:///{tmp_path / archive}.db", tmp_path / archive)
        restore_backup(target, tmp_path / archive)
        assert _sql_nulls(target.database_url, record_id) == expected, archive
