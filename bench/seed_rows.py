"""The rows ``bench/seed_large.py`` loads: seeded, realistic values for accounts and the
contacts, opportunities, tickets and activities hanging off them, as column dicts with the
system columns, stored computed fields and account roll-ups filled as the engine would."""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import json
import random
from decimal import Decimal
from typing import Any

SEED = 20261202
#: per account, on average (scale 1.0: 1M accounts)
PER_ACCOUNT = {"contact": 2.0, "opportunity": 0.5, "ticket": 1.0, "activity": 5.0}
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
