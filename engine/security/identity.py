"""Who a user is for the engine: roles, teams and the people whose records they oversee."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from engine.actor import Actor


def load_actor(conn: sa.Connection, snap: Any, user_id: str, source: str = "") -> Actor | None:
    """The ``Actor`` of an active user, or None when the user is missing or inactive."""
    users = snap.tables.main("user")
    user = conn.execute(sa.select(users).where(users.c.id == user_id, users.c.deleted_at.is_(None))).first()
    if user is None or not user.active:
        return None
    user_joins = snap.tables.entities["user"].joins
    roles = snap.tables.main("role")
    role_names = conn.execute(
        sa.select(roles.c.name)
        .join(user_joins["roles"], user_joins["roles"].c.target_id == roles.c.id)
        .where(user_joins["roles"].c.source_id == user_id)
    ).scalars()
    teams = snap.tables.main("team")
    all_teams = conn.execute(
        sa.select(teams.c.id, teams.c.name, teams.c.parent, teams.c.manager).where(teams.c.deleted_at.is_(None))
    ).all()
    member_of = set(
        conn.execute(
            sa.select(user_joins["teams"].c.target_id).where(user_joins["teams"].c.source_id == user_id)
        ).scalars()
    )
    # a manager oversees the teams they manage and every team below them
    children: dict[str | None, list[str]] = {}
    for team in all_teams:
        children.setdefault(team.parent, []).append(team.id)
    visible, managed = set(member_of), set()
    stack = [t.id for t in all_teams if t.manager == user_id]
    while stack:
        team_id = stack.pop()
        if team_id not in managed:
            managed.add(team_id)
            stack.extend(children.get(team_id, []))
    visible |= managed
    members = {user_id}
    if visible:
        join = user_joins["teams"]
        members |= set(conn.execute(sa.select(join.c.source_id).where(join.c.target_id.in_(visible))).scalars())
    members |= set(conn.execute(sa.select(users.c.id).where(users.c.manager == user_id)).scalars())
    names = frozenset(t.name for t in all_teams if t.id in member_of)
    return Actor(
        user_id,
        frozenset(role_names),
        source,
        user.locale or "en",
        teams=names,
        team_ids=frozenset(visible),
        team_members=frozenset(members),
    )
