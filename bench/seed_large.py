"""Fill a PostgreSQL schema with CRM data at scale for ``bench/scale.py``.

    python bench/seed_large.py [--scale 0.1] [--database-url URL] [--schema bench_large]
                               [--chunk 20000] [--drop]

``--scale 1.0`` is 1,000,000 accounts, 2,000,000 contacts, 5,000,000 activities,
1,000,000 tickets and 500,000 opportunities; ``--scale 0.1`` a tenth of each. The schema
(default ``bench_large``, selected with ``?options=-csearch_path%3D...``) is dropped and
created again, every shipped pack is installed into it with ``Workspace.install()``, the
bench users are created through the engine (``users.json`` next to this script lists
nothing: the logins are fixed, see ``LOGINS``), then the rows are generated in chunks of
accounts and loaded with PostgreSQL ``COPY`` into the tables Tessera created. Every system
column is filled as ``Records.create`` fills it (a UUIDv7 id carrying the creation time,
``version``, ``created_at``/``updated_at``, ``created_by``/``updated_by``, ``owner``);
stored computed fields and the account roll-ups the generated rows feed are computed here
as the engine would store them. Secondary indexes and foreign keys of the loaded tables
are dropped during the load and created again afterwards (the same definitions, read from
``pg_indexes``/``pg_constraint``), then ``ANALYZE``. ``--drop`` only drops the schema.

Not generated: audit history, duplicate match keys (``tessera_match_key``: the first write
to a loaded entity builds them), activity attendees and the entities of the other packs.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import itertools
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.actor import SYSTEM  # noqa: E402
from engine.automation.rollups import function_of  # noqa: E402
from engine.config import Config  # noqa: E402
from engine.meta.model import EntityDef  # noqa: E402
from engine.security.users import create_user, ensure_roles  # noqa: E402
from engine.workspace import Workspace  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "Bench-scale-2026"
SECRET = "bench-scale-secret-key-" + "x" * 32
SEED = 20261202
#: per account, on average (scale 1.0: 1M accounts)
PER_ACCOUNT = {"contact": 2.0, "opportunity": 0.5, "ticket": 1.0, "activity": 5.0}
#: the logins bench/scale.py signs in with (role -> e-mail)
LOGINS = {"sales_rep": "rep@bench.test", "sales_manager": "manager@bench.test", "admin": "admin@bench.test"}
NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)  # the data ends today


def words(text: str) -> list[str]:
    return text.split()


FIRST = words(
    "Anna Ben Clara David Elif Farid Greta Hugo Ines Jonas Kira Luca Mara Nils Olga Paul Rosa Sami Tara "
    "Umut Vera Yara Zoe Omar Lea Finn Mia Emil Noah Lina"
)
LAST = words(
    "Schmidt Müller Yilmaz Rossi Nowak García Dubois Smith Kowalski Berg Fischer Weber Meyer Wagner "
    "Becker Schulz Hoffmann Koch Richter Klein Wolf Neumann Schwarz Zimmermann Braun Krüger Hofmann "
    "Hartmann Lange Schmitt Werner Krause Meier Lehmann Huber Mayer Herrmann König Walter Kaiser Fuchs "
    "Peters Lang Scholz Möller Weiß Jung Hahn"
)
WORD_A = words(
    "Aare Alpen Nordwind Rhein Elbe Donau Falken Adler Berg Stern Sonnen Blau Grün Eichen Linden Kristall "
    "Vulkan Polar Atlas Orion Helios Nova Terra Aqua Vento Lumen Quantum Vertex Apex Summit Harbor "
    "Pioneer Meridian Zenith Cobalt Granite Silver Golden Iron Crystal Coral Amber Cedar Maple Oak Willow "
    "Falcon Eagle Lynx Otter Beacon"
)
WORD_B = words(
    "Maschinenbau Logistik Software Systems Consulting Pharma Energie Bau Handel Technik Medien Foods "
    "Analytics Robotics Solutions Networks Capital Versicherung Bank Telekom Chemie Textil Optik Motoren "
    "Kliniken Hotels Digital Labs Dynamics Industries Partners Holdings Werke Automation Services"
)
LEGAL = [("GmbH", "gmbh"), ("AG", "ag"), ("SA", "sa"), ("Ltd", "ltd"), ("Inc.", "inc"), ("B.V.", "bv"), ("LLC", "llc")]
PLACES = [
    ("Berlin", "Germany", "Europe/Berlin", "de"),
    ("Hamburg", "Germany", "Europe/Berlin", "de"),
    ("München", "Germany", "Europe/Berlin", "de"),
    ("Köln", "Germany", "Europe/Berlin", "de"),
    ("Frankfurt", "Germany", "Europe/Berlin", "de"),
    ("Stuttgart", "Germany", "Europe/Berlin", "de"),
    ("Wien", "Austria", "Europe/Vienna", "de"),
    ("Graz", "Austria", "Europe/Vienna", "de"),
    ("Zürich", "Switzerland", "Europe/Zurich", "de"),
    ("Basel", "Switzerland", "Europe/Zurich", "de"),
    ("Genève", "Switzerland", "Europe/Zurich", "fr"),
    ("Paris", "France", "Europe/Paris", "fr"),
    ("Lyon", "France", "Europe/Paris", "fr"),
    ("Milano", "Italy", "Europe/Rome", "it"),
    ("Madrid", "Spain", "Europe/Madrid", "es"),
    ("Amsterdam", "Netherlands", "Europe/Amsterdam", "nl"),
    ("London", "United Kingdom", "Europe/London", "en-GB"),
    ("Dublin", "Ireland", "Europe/Dublin", "en"),
    ("Warszawa", "Poland", "Europe/Warsaw", "pl"),
    ("Istanbul", "Turkey", "Europe/Istanbul", "tr"),
    ("Dubai", "United Arab Emirates", "Asia/Dubai", "en"),
    ("Mumbai", "India", "Asia/Kolkata", "en"),
    ("New York", "United States", "America/New_York", "en"),
    ("Chicago", "United States", "America/Chicago", "en"),
]
TITLES = ["CEO", "CFO", "CIO", "Head of IT", "Buyer", "Engineer", "Project manager", "Office manager", "CTO", None]
PRODUCTS = ["CRM rollout", "Support contract", "Hardware refresh", "Cloud migration", "Licences", "Training", "Upgrade"]
SUBJECTS = {
    "call": ["Intro call", "Follow-up call", "Pricing call", "Check-in"],
    "email": ["Sent proposal", "Sent brochure", "Answered question", "Meeting recap"],
    "meeting": ["On-site demo", "Workshop", "Quarterly review", "Kick-off"],
    "note": ["Budget approved", "Champion left", "Competitor in play", "Internal note"],
    "task": ["Prepare quote", "Send contract", "Update forecast", "Call back"],
}
TICKET_SUBJECTS = ["Printer offline", "VPN drops", "Password reset", "Licence expired", "Slow laptop", "Mail bounce"]


def uuid7(at: dt.datetime, rng: random.Random) -> str:
    """A UUIDv7 as ``engine.storage.ids.new_id`` makes it, for a record created at ``at``."""
    ms = int(at.replace(tzinfo=dt.UTC).timestamp() * 1000)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rng.getrandbits(12) << 64 | 0b10 << 62 | rng.getrandbits(62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def quarter(day: dt.date | None) -> dt.date | None:
    return None if day is None else dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


PLACE_OF = {p[0]: p for p in PLACES}


class Generator:
    """Rows of one chunk of accounts and everything hanging off them, as column dicts."""

    def __init__(self, catalog: Any, owners: list[str], agents: list[str], rng: random.Random):
        self.catalog, self.owners, self.agents, self.rng = catalog, owners, agents, rng
        self.ticket_seq: dict[int, int] = {}
        self.account_no = 0
        self.options: dict[tuple[str, str], list[str]] = {}
        self.cumulative: dict[tuple[Any, ...], list[float]] = {}

    def one(self, seq: Any) -> Any:
        """``rng.choice`` without its per-call overhead (the generator is the bottleneck)."""
        return seq[int(self.rng.random() * len(seq))]

    def weighted(self, seq: tuple[Any, ...], weights: tuple[int, ...]) -> Any:
        cumulative = self.cumulative.get(weights)
        if cumulative is None:
            cumulative = self.cumulative[weights] = list(itertools.accumulate(weights))
        return seq[bisect.bisect(cumulative, self.rng.random() * cumulative[-1])]

    def between(self, low: int, high: int) -> int:
        return low + int(self.rng.random() * (high - low + 1))

    def system(self, at: dt.datetime, owner: str) -> dict[str, Any]:
        rng = self.rng
        version = 1 if rng.random() < 0.7 else self.between(2, 6)
        updated = at if version == 1 else min(NOW, at + dt.timedelta(hours=self.between(1, 4000)))
        return {
            "id": uuid7(at, rng),
            "version": version,
            "created_at": at,
            "created_by": owner,
            "updated_at": updated,
            "updated_by": owner,
            "owner": owner,
            "deleted_at": None,
            "deleted_by": None,
        }

    def when(self, after: dt.datetime | None = None) -> dt.datetime:
        start = after or NOW - dt.timedelta(days=3 * 365)
        span = max(1, int((NOW - start).total_seconds()))
        return start + dt.timedelta(seconds=int(self.rng.random() * span))

    def pick(self, entity: str, name: str) -> Any:
        values = self.options.get((entity, name))
        if values is None:
            options = self.catalog.entities[entity].fields[name].enum_options
            values = self.options[(entity, name)] = [o.value for o in options]
        return self.one(values)

    def account(self) -> dict[str, Any]:
        rng = self.rng
        self.account_no += 1
        legal, form = self.one(LEGAL)
        a, b = self.one(WORD_A), self.one(WORD_B)
        city, country, _, _ = self.one(PLACES)
        at = self.when()
        domain = f"{a.lower()}{b.lower()}{self.account_no}.example"
        employees = int(rng.lognormvariate(4.5, 1.6))
        tier = self.weighted(
            (
                "platinum",
                "gold",
                "silver",
                "bronze",
                None,
            ),
            (
                2,
                8,
                25,
                40,
                25,
            ),
        )
        return {
            **self.system(at, self.one(self.owners)),
            "name": f"{a} {b} {legal}",
            "relationship": self.weighted(
                (
                    "prospect",
                    "customer",
                    "former_customer",
                    "partner",
                ),
                (
                    45,
                    40,
                    10,
                    5,
                ),
            ),
            "industry": self.pick("account", "industry"),
            "segment": "enterprise" if employees >= 1000 else "mid_market" if employees >= 100 else "smb",
            "tier": tier,
            "tags": json.dumps(rng.sample(["key_account", "strategic", "new_logo", "at_risk"], self.between(0, 2))),
            "health_score": self.between(0, 100),
            "source": self.pick("account", "source"),
            "website": f"https://www.{domain}",
            "domain": domain,
            "phone": f"+49 30 {self.between(1000000, 9999999)}",
            "email": f"info@{domain}",
            "city": city,
            "country": country,
            "billing_street": f"{self.one(LAST)}straße {self.between(1, 200)}",
            "billing_city": city,
            "billing_postcode": f"{self.between(10000, 99999)}",
            "billing_country": country,
            "employees": employees,
            "annual_revenue": Decimal(employees * self.between(80, 400)) * 1000,
            "legal_form": form,
            "tax_id": f"DE{self.between(100000000, 999999999)}",
            "credit_limit": Decimal(self.one([10000, 50000, 100000, 250000])),
            "payment_terms": self.one(["net_14", "net_30", "net_30", "net_60"]),
        }

    def contact(self, account: dict[str, Any], boss: str | None) -> dict[str, Any]:
        rng = self.rng
        first, last = self.one(FIRST), self.one(LAST)
        place = PLACE_OF[account["city"]]
        n = rng.getrandbits(40)
        return {
            **self.system(self.when(account["created_at"]), account["owner"]),
            "salutation": self.one(["mr", "ms", "dr", None]),
            "first_name": first,
            "last_name": last,
            "gender": self.one(["female", "male", "undisclosed", None]),
            "birthday": dt.date(self.between(1955, 2002), self.between(1, 12), self.between(1, 28)),
            "language": place[3],
            "timezone": place[2],
            "account": account["id"],
            "title": self.one(TITLES),
            "department": self.one(["IT", "Finance", "Purchasing", "Operations", None]),
            "reports_to": boss,
            "email": f"{first.lower()}.{last.lower()}.{n:x}@{account['domain']}",
            "phone": f"+49 30 {self.between(1000000, 9999999)}",
            "mobile": f"+49 170 {self.between(1000000, 9999999)}",
            "preferred_channel": self.pick("contact", "preferred_channel"),
            "city": account["city"],
            "country": account["country"],
            "consent_marketing": rng.random() < 0.4,
            "consent_processing": rng.random() < 0.6,
            "do_not_sell": rng.random() < 0.05,
            "source": self.pick("contact", "source"),
        }

    def opportunity(self, account: dict[str, Any], contacts: list[dict[str, Any]]) -> dict[str, Any]:
        at = self.when(account["created_at"])
        stage = self.weighted(
            (
                "prospecting",
                "qualification",
                "solution_design",
                "proposal",
                "negotiation",
                "closed_won",
                "closed_lost",
            ),
            (
                15,
                12,
                8,
                8,
                5,
                27,
                25,
            ),
        )
        probability = {"prospecting": 10, "qualification": 20, "solution_design": 40, "proposal": 60}.get(stage, 80)
        probability = {"closed_won": 100, "closed_lost": 0}.get(stage, probability)
        closed = stage in ("closed_won", "closed_lost")
        expected = (at + dt.timedelta(days=self.between(20, 200))).date()
        closed_at = min(NOW.date(), expected + dt.timedelta(days=self.between(-30, 30))) if closed else None
        amount = Decimal(self.between(5, 500) * 1000)
        forecast = {"proposal": "best_case", "negotiation": "commit", "closed_won": "closed", "closed_lost": "omitted"}
        return {
            **self.system(at, account["owner"]),
            "name": f"{account['name'].split(' ')[0]} - {self.one(PRODUCTS)}",
            "account": account["id"],
            "contact": self.one(contacts)["id"] if contacts else None,
            "stage": stage,
            "amount": amount,
            "probability": Decimal(probability),
            "expected_close": expected,
            "deal_type": self.one(["new_business", "new_business", "upsell", "renewal"]),
            "source": self.pick("opportunity", "source"),
            "forecast_category": forecast.get(stage, "pipeline"),
            "loss_reason": self.pick("opportunity", "loss_reason") if stage == "closed_lost" else None,
            "closed_at": closed_at,
            "closed_quarter": quarter(closed_at),
            "is_closed": closed,
            "is_won": stage == "closed_won",
            "stage_changed_at": self.when(at),
            "weighted_amount": amount * probability / 100,
            "close_month": expected.replace(day=1),
            "close_quarter": quarter(expected),
        }

    def ticket(self, account: dict[str, Any], contacts: list[dict[str, Any]]) -> dict[str, Any]:
        at = self.when(account["created_at"])
        self.ticket_seq[at.year] = self.ticket_seq.get(at.year, 0) + 1
        contact = self.one(contacts) if contacts else None
        impact, urgency = self.one(["low", "medium", "high"]), self.one(["low", "medium", "high"])
        service_tier = {"platinum": "gold", "gold": "gold", "silver": "silver", "bronze": "bronze"}.get(account["tier"])
        level = {"low": 1, "medium": 2, "high": 3}
        score = level[impact] + level[urgency] + (1 if service_tier == "gold" else 0)
        matrix = {2: "P4", 3: "P4", 4: "P3", 5: "P2"}.get(score, "P1")
        old = at < NOW - dt.timedelta(days=30)
        status = (
            self.weighted(
                (
                    "closed",
                    "resolved",
                ),
                (
                    9,
                    1,
                ),
            )
            if old
            else self.pick("ticket", "status")
        )
        resolved = at + dt.timedelta(hours=self.between(1, 200)) if status in ("resolved", "closed") else None
        sla_state = (
            self.weighted(
                (
                    "met",
                    "breached",
                ),
                (
                    85,
                    15,
                ),
            )
            if resolved
            else self.one(["on_track", "at_risk"])
        )
        assignee = self.one(self.agents)
        return {
            **self.system(at, assignee),
            "number": f"TCK-{at.year:04d}-{self.ticket_seq[at.year]:05d}",
            "subject": self.one(TICKET_SUBJECTS),
            "account": account["id"],
            "contact": contact["id"] if contact else None,
            "category": self.pick("ticket", "category"),
            "channel": self.one(["email", "portal", "phone", "api"]),
            "reporter_email": contact["email"] if contact else None,
            "reporter_name": f"{contact['first_name']} {contact['last_name']}" if contact else None,
            "impact": impact,
            "urgency": urgency,
            "service_tier": service_tier,
            "matrix_priority": matrix,
            "priority": matrix,
            "status": status,
            "assignee": assignee,
            "opened_at": at,
            "first_response_at": at + dt.timedelta(minutes=self.between(5, 600)),
            "resolved_at": resolved,
            "closed_at": resolved + dt.timedelta(days=2) if status == "closed" and resolved else None,
            "reopen_count": 0,
            "sla_policy": f"{service_tier or 'bronze'}_default",
            "response_due": at + dt.timedelta(hours=4),
            "resolution_due": at + dt.timedelta(hours=48),
            "sla_state": sla_state,
            "escalation_level": 1 if sla_state == "breached" else 0,
            "sla_compliance": 100 if sla_state == "met" else 0 if sla_state == "breached" else None,
        }

    def activity(self, account: dict[str, Any], about: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        rng = self.rng
        kind = self.weighted(
            (
                "call",
                "email",
                "meeting",
                "note",
                "task",
            ),
            (
                30,
                30,
                15,
                10,
                15,
            ),
        )
        at = self.when(about[1]["created_at"])
        due = at + dt.timedelta(days=self.between(0, 30)) if kind == "task" else at
        return {
            **self.system(at, about[1]["owner"]),
            "kind": kind,
            "subject": self.one(SUBJECTS[kind]),
            "body": None if rng.random() < 0.6 else "Discussed next steps and timeline.",
            "due_at": due,
            "done": due < NOW and rng.random() < 0.9,
            "priority": self.weighted(
                (
                    "low",
                    "normal",
                    "high",
                ),
                (
                    2,
                    7,
                    1,
                ),
            ),
            "duration_minutes": self.one([15, 30, 45, 60]) if kind in ("call", "meeting") else None,
            "direction": self.one(["inbound", "outbound"]) if kind in ("call", "email") else None,
            "visibility": "internal" if rng.random() < 0.9 else "public",
            "related_entity": about[0],
            "related_id": about[1]["id"],
            "account": account["id"],
        }

    def chunk(self, count: int) -> dict[str, list[dict[str, Any]]]:
        """``count`` accounts with their contacts, opportunities, tickets and activities;
        children are spread with a skew (a few accounts have many)."""
        rng = self.rng
        accounts = [self.account() for _ in range(count)]
        weights = [rng.paretovariate(1.5) for _ in accounts]
        out: dict[str, list[dict[str, Any]]] = {"account": accounts}
        per: dict[str, list[list[dict[str, Any]]]] = {}
        for entity in ("contact", "opportunity", "ticket", "activity"):
            total = round(count * PER_ACCOUNT[entity])
            owners = rng.choices(range(count), weights, k=total) if entity != "contact" else None
            if entity == "contact":  # every account has at least one contact
                owners = list(range(count)) + rng.choices(range(count), weights, k=max(0, total - count))
            groups: list[list[dict[str, Any]]] = [[] for _ in accounts]
            rows = []
            for i in sorted(owners or ()):
                account = accounts[i]
                if entity == "contact":
                    boss = groups[i][0]["id"] if groups[i] else None
                    row = self.contact(account, boss)
                elif entity in ("opportunity", "ticket"):
                    row = getattr(self, entity)(account, per["contact"][i])
                else:
                    row = self.activity(account, self.about(i, account, per))
                groups[i].append(row)
                rows.append(row)
            per[entity], out[entity] = groups, rows
        self.rollups(accounts, per)
        return out

    def about(self, i: int, account: dict[str, Any], per: dict[str, list[list[dict[str, Any]]]]) -> tuple[str, Any]:
        kind = self.weighted(
            (
                "account",
                "contact",
                "opportunity",
                "ticket",
            ),
            (
                40,
                30,
                20,
                10,
            ),
        )
        rows = per.get(kind, [[]])[i] if kind != "account" else []
        return (kind, self.one(rows)) if rows else ("account", account)

    def rollups(self, accounts: list[dict[str, Any]], per: dict[str, list[list[dict[str, Any]]]]) -> None:
        """The account roll-ups the generated rows feed, as the engine would store them."""
        year_ago, recent = NOW.date() - dt.timedelta(days=365), NOW - dt.timedelta(days=90)
        for i, account in enumerate(accounts):
            opps = per["opportunity"][i]
            account["open_pipeline_value"] = sum((o["amount"] for o in opps if not o["is_closed"]), Decimal(0))
            won = [o for o in opps if o["is_won"] and o["closed_at"] >= year_ago]
            account["won_value_12m"] = sum((o["amount"] for o in won), Decimal(0))
            account["lost_deals_12m"] = sum(
                1 for o in opps if o["stage"] == "closed_lost" and o["closed_at"] >= year_ago
            )
            account["activities_90d"] = sum(1 for a in per["activity"][i] if recent <= a["due_at"] <= NOW)


def row_maker(entity: EntityDef, table: sa.Table) -> tuple[list[str], Callable[[dict[str, Any]], tuple[Any, ...]]]:
    """The table's columns and a function turning a generated dict into a COPY row; a
    column the generator left out gets the field's literal default, 0 for an empty
    count/sum roll-up, else NULL."""
    columns = [c.name for c in table.columns]
    fallback: dict[str, Any] = {}
    for fd in entity.column_fields():
        default = fd.opt("default")
        if fd.is_rollup:
            fallback[fd.name] = 0 if function_of(fd) in ("count", "sum") else None
        elif default is not None and not (isinstance(default, str) and default.startswith("=")):
            fallback[fd.name] = default
    missing = object()

    def make(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(v if (v := row.get(c, missing)) is not missing else fallback.get(c) for c in columns)

    return columns, make


def url_with_schema(base: str, schema: str) -> str:
    if base.startswith("postgresql://"):
        base = "postgresql+psycopg://" + base[len("postgresql://") :]
    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"


def packs() -> tuple[str, ...]:
    import metadata

    return tuple(sorted(p.name for p in Path(metadata.__file__).parent.iterdir() if (p / "pack.yaml").exists()))


def config_for(base: str, schema: str, instance: Path, pack_names: tuple[str, ...] = ()) -> Config:
    """The workspace configuration of the bench schema (every shipped pack unless named)."""
    return Config(
        database_url=url_with_schema(base, schema),
        packs=pack_names or packs(),
        secret_key=SECRET,
        instance_path=instance,
        password_hashing="fast",
        auth_rate_limit="100000 per minute",
    )


def drop_schema(base: str, schema: str) -> None:
    admin = sa.create_engine(url_with_schema(base, "public"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def create_users(ws: Workspace, scale: float) -> tuple[list[str], list[str]]:
    """The bench logins plus sales reps (teams of ten) and support agents; returns the ids
    of the record owners (reps) and of the ticket assignees (agents)."""
    ensure_roles(ws)
    reps, agents = max(4, round(100 * scale)), max(2, round(20 * scale))
    teams = [ws.records.create(SYSTEM, "team", {"name": f"Sales {n + 1}"})["id"] for n in range((reps + 9) // 10)]
    owners = []
    for n in range(reps):
        email = LOGINS["sales_rep"] if n == 0 else f"rep{n}@bench.test"
        owners.append(create_user(ws, email, f"Rep {n}", PASSWORD, ["sales_rep"], teams=[teams[n // 10]])["id"])
    create_user(ws, LOGINS["sales_manager"], "Manager", PASSWORD, ["sales_manager"], teams=[teams[0]])
    create_user(ws, LOGINS["admin"], "Admin", PASSWORD, ["admin"])
    support = [
        create_user(ws, f"agent{n}@bench.test", f"Agent {n}", None, ["support_agent"])["id"] for n in range(agents)
    ]
    return owners, support


def constraints(conn: Any, table: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(name, CREATE INDEX ...) of the table's secondary indexes and (name, definition) of
    its foreign keys."""
    indexes = conn.execute(
        sa.text(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() "
            "AND i.tablename = :t AND i.indexname NOT IN (SELECT conname FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype IN ('p', 'u'))"
        ),
        {"t": table},
    ).all()
    fks = conn.execute(
        sa.text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype = 'f'"
        ),
        {"t": table},
    ).all()
    return [tuple(r) for r in indexes], [tuple(r) for r in fks]  # type: ignore[misc]


def load(ws: Workspace, scale: float, chunk: int, owners: list[str], agents: list[str]) -> dict[str, dict[str, float]]:
    snap = ws.snapshot()
    catalog = snap.catalog
    entities = ("account", "contact", "opportunity", "ticket", "activity")
    makers = {e: row_maker(catalog.entities[e], snap.tables.main(e)) for e in entities}
    stats = {e: {"rows": 0.0, "generate": 0.0, "copy": 0.0, "indexes": 0.0} for e in entities}
    gen = Generator(catalog, owners, agents, random.Random(SEED))
    total = round(1_000_000 * scale)
    raw = ws.db.raw_connection()
    try:
        with ws.db.connect() as conn:
            saved = {e: constraints(conn, e) for e in entities}
        with raw.cursor() as cur:  # type: ignore[attr-defined]
            for e in entities:
                for name, _ in saved[e][1]:
                    cur.execute(f'ALTER TABLE "{e}" DROP CONSTRAINT "{name}"')
                for name, _ in saved[e][0]:
                    cur.execute(f'DROP INDEX "{name}"')
        raw.commit()
        done = 0
        while done < total:
            size = min(chunk, total - done)
            started = time.perf_counter()
            rows = gen.chunk(size)
            per_row = (time.perf_counter() - started) / sum(len(r) for r in rows.values())
            with raw.cursor() as cur:  # type: ignore[attr-defined]
                for e in entities:
                    columns, make = makers[e]
                    stats[e]["generate"] += per_row * len(rows[e])
                    stats[e]["rows"] += len(rows[e])
                    started = time.perf_counter()
                    names = ", ".join(f'"{c}"' for c in columns)
                    with cur.copy(f'COPY "{e}" ({names}) FROM STDIN') as copy:
                        for row in rows[e]:
                            copy.write_row(make(row))
                    stats[e]["copy"] += time.perf_counter() - started
            raw.commit()
            done += size
            print(f"  {done:,} / {total:,} accounts", flush=True)
        with raw.cursor() as cur:  # type: ignore[attr-defined]
            for e in entities:
                started = time.perf_counter()
                for _, definition in saved[e][0]:
                    cur.execute(definition)
                for name, definition in saved[e][1]:
                    cur.execute(f'ALTER TABLE "{e}" ADD CONSTRAINT "{name}" {definition}')
                raw.commit()
                stats[e]["indexes"] = time.perf_counter() - started
            for year, value in gen.ticket_seq.items():  # later tickets continue the numbering
                cur.execute(
                    "INSERT INTO tessera_series (name, value) VALUES (%s, %s) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (f"ticket.number:TCK-{year:04d}-#", value),
                )
            raw.commit()
    finally:
        raw.close()
    return stats


def seed(base: str, schema: str, scale: float, chunk: int = 20000, pack_names: tuple[str, ...] = ()) -> dict[str, Any]:
    """Drop and create ``schema``, install the packs, create the users, load the rows at
    ``scale``, ANALYZE; returns the figures per table."""
    drop_schema(base, schema)
    admin = sa.create_engine(url_with_schema(base, "public"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tessera-scale-") as tmp:
        ws = Workspace(config_for(base, schema, Path(tmp), pack_names), meta_check_interval=0)
        try:
            started = time.perf_counter()
            ws.install()
            owners, agents = create_users(ws, scale)
            install = time.perf_counter() - started
            print(f"installed the packs and {len(owners) + len(agents) + 2} users in {install:.1f}s", flush=True)
            stats = load(ws, scale, chunk, owners, agents)
            started = time.perf_counter()
            with ws.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                tables = conn.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))
                for table in tables.scalars().all():  # the bench schema only, not the whole database
                    conn.execute(sa.text(f'ANALYZE "{table}"'))
            analyze = time.perf_counter() - started
        finally:
            ws.close()
    return {"tables": stats, "install": install, "analyze": analyze, "elapsed": time.perf_counter() - began}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.1, help="1.0 = 1M accounts, 5M activities, ...")
    parser.add_argument("--database-url", default=os.environ.get("TESSERA_BENCH_DATABASE_URL", DEFAULT_PG))
    parser.add_argument("--schema", default="bench_large")
    parser.add_argument("--chunk", type=int, default=20000, help="accounts generated and loaded per transaction")
    parser.add_argument("--packs", default="", help="comma-separated packs to install (default: every shipped pack)")
    parser.add_argument("--drop", action="store_true", help="only drop the schema")
    args = parser.parse_args()
    if args.drop:
        drop_schema(args.database_url, args.schema)
        print(f"dropped schema {args.schema}")
        return 0
    pack_names = tuple(p.strip() for p in args.packs.split(",") if p.strip())
    figures = seed(args.database_url, args.schema, args.scale, args.chunk, pack_names)
    print(
        f"\n{'table':<12} {'rows':>10} {'generate':>9} {'COPY':>8} {'indexes+FKs':>12} {'elapsed':>8} "
        f"{'rows/s':>8} {'COPY rows/s':>12}"
    )
    for e, s in figures["tables"].items():
        elapsed = s["generate"] + s["copy"] + s["indexes"]
        print(
            f"{e:<12} {int(s['rows']):>10,} {s['generate']:>8.1f}s {s['copy']:>7.1f}s {s['indexes']:>11.1f}s "
            f"{elapsed:>7.1f}s {s['rows'] / elapsed:>8,.0f} {s['rows'] / max(s['copy'], 1e-9):>12,.0f}"
        )
    rows = sum(s["rows"] for s in figures["tables"].values())
    print(
        f"install {figures['install']:.1f}s, ANALYZE {figures['analyze']:.1f}s; total {rows:,.0f} rows in "
        f"{figures['elapsed']:.1f}s ({rows / figures['elapsed']:,.0f} rows/s overall)"
    )
    print(f"schema {args.schema} kept; drop it with: python bench/seed_large.py --drop --schema {args.schema}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
