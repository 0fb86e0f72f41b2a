"""What document templates use to show values: labels and number/date formatting.

Filters read the caller's locale from the template context (``locale``), so one template
serves every language: ``{{ record.total | money(record.currency) }}`` gives
``12,345.60 EUR`` in English and ``12.345,60 EUR`` in German. ``Labels`` gives the labels
of fields and enum options as the entity defines them, in that locale.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context

from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef, FieldDef
from engine.storage.codec import at_scale
from engine.storage.derivation import label_text

#: (thousands separator, decimal mark) by language; anything else writes English numbers
SEPARATORS = {
    "de": (".", ","),
    "es": (".", ","),
    "it": (".", ","),
    "nl": (".", ","),
    "pt": (".", ","),
    "tr": (".", ","),
    "fr": ("\u202f", ","),
    "ru": ("\u202f", ","),
    "fa": ("\u066c", "\u066b"),  # Arabic thousands separator and decimal mark
}
#: default date formats by language (strftime)
DATE_FORMATS = {"en": "%d %b %Y", "de": "%d.%m.%Y", "fr": "%d/%m/%Y", "es": "%d/%m/%Y", "it": "%d/%m/%Y"}


def _language(ctx: Context) -> str:
    return str(ctx.get("locale") or "en").replace("-", "_").split("_")[0].lower()


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def format_number(value: Any, places: int | None, language: str = "en") -> str:
    """``value`` with thousands separators and ``places`` decimals (None: as many as it has)."""
    number = _decimal(value)
    if number is None:
        return "" if value is None else str(value)
    if places is not None:
        rounded = at_scale(number, int(places), ROUND_HALF_UP)  # a number: ``number`` is finite
        number = number if rounded is None else rounded
    text = f"{number:,f}"
    thousands, mark = SEPARATORS.get(language, (",", "."))
    return text.replace(",", "\0").replace(".", mark).replace("\0", thousands)


@pass_context
def money(ctx: Context, value: Any, currency: Any = None, places: int = 2) -> str:
    """``{{ total | money(currency) }}``: 12,345.60 EUR."""
    if value is None:
        return ""
    text = format_number(value, places, _language(ctx))
    return f"{text} {currency}" if currency else text


@pass_context
def number(ctx: Context, value: Any, places: int | None = None) -> str:
    """``{{ qty | number }}``, ``{{ hours | number(1) }}``."""
    return format_number(value, places, _language(ctx))


@pass_context
def percent(ctx: Context, value: Any, places: int = 1) -> str:
    """``{{ margin_pct | percent }}``: 12.5 % (values are 0 to 100, as the API gives them)."""
    if value is None:
        return ""
    return f"{format_number(value, places, _language(ctx))} %"


def _temporal(value: Any) -> dt.date | dt.datetime | None:
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value)
    except ValueError:
        return None


@pass_context
def date(ctx: Context, value: Any, format: str | None = None) -> str:
    """``{{ valid_until | date }}``: 31 Jan 2026 (English), 31.01.2026 (German); or a strftime format."""
    moment = _temporal(value)
    if moment is None:
        return "" if value is None else str(value)
    if isinstance(moment, dt.datetime):
        moment = moment.astimezone(dt.UTC).date()
    return moment.strftime(format or DATE_FORMATS.get(_language(ctx), DATE_FORMATS["en"]))


@pass_context
def datetime(ctx: Context, value: Any, format: str | None = None) -> str:
    """``{{ sent_at | datetime }}``: the date and the time in UTC."""
    moment = _temporal(value)
    if moment is None:
        return "" if value is None else str(value)
    if not isinstance(moment, dt.datetime):
        return date(ctx, moment, format)
    moment = moment.astimezone(dt.UTC)
    default = DATE_FORMATS.get(_language(ctx), DATE_FORMATS["en"]) + " %H:%M UTC"
    return moment.strftime(format or default)


FILTERS: dict[str, Any] = {"money": money, "number": number, "percent": percent, "date": date, "datetime": datetime}


class Labels:
    """Labels of an entity's fields and enum options in one locale, for templates.

    ``label("valid_until")`` is a field's label; ``label("lines.qty")`` follows a table or
    link field to the field of its rows or target. ``option("status", record.status)`` is the
    label of an enum value (a list of values for ``multi_enum`` gives the labels joined).
    An unknown name gives the name back, so a template never fails on a label.
    """

    def __init__(self, catalog: Catalog, entity: EntityDef, locale: str):
        self.catalog, self.entity, self.locale = catalog, entity, locale

    def _field(self, path: str) -> FieldDef | None:
        entity: EntityDef | None = self.entity
        fd = None
        for part in str(path).split("."):
            if entity is None:
                return None
            fd = entity.fields.get(part)
            if fd is None:
                return None
            target = fd.opt("of") if fd.type == "table" else fd.target
            entity = self.catalog.entities.get(target) if target else None
        return fd

    def label(self, path: str) -> str:
        fd = self._field(path)
        return label_text(fd.label, self.locale) if fd is not None else str(path)

    def option(self, path: str, value: Any) -> str:
        if value is None:
            return ""
        fd = self._field(path)
        options = {o.value: o for o in fd.enum_options} if fd is not None else {}

        def one(item: Any) -> str:
            found = options.get(str(item))
            return label_text(found.label, self.locale) if found is not None and found.label else str(item)

        if isinstance(value, list | tuple):
            return ", ".join(one(v) for v in value)
        return one(value)
