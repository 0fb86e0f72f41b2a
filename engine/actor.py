"""Who is acting: passed explicitly to every data-access call (never read from a global)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    user_id: str | None
    roles: frozenset[str] = field(default_factory=frozenset)
    #: where the request came from (IP address, "cli", "system"), recorded in the audit
    source: str = ""
    locale: str = "en"
    #: names of the teams the user belongs to (for in_team())
    teams: frozenset[str] = field(default_factory=frozenset)
    #: ids of the user's teams and of the teams below the ones they manage
    team_ids: frozenset[str] = field(default_factory=frozenset)
    #: ids of the users whose records the ``team`` scope shows: members of those teams,
    #: direct reports and the user
    team_members: frozenset[str] = field(default_factory=frozenset)
    #: the administrator acting as this user (impersonation), recorded in the audit trail
    impersonator: str | None = None
    #: acting with fewer roles than the user has (through an API key limited to some)
    limited: bool = False

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def principal(self) -> str:
        """A stable key for per-caller state such as idempotency keys."""
        return self.user_id or f"system:{self.source}"


#: the engine itself (installation, demo data, CLI maintenance)
SYSTEM = Actor(None, frozenset({"admin"}), "system")
