"""Text cells to field values: what people type in spreadsheets, turned into what the API takes.

The output is the JSON shape ``engine.storage.validation`` accepts (dates as ISO strings,
numbers as ``Decimal``), so an imported value passes exactly the checks an API write does;
this module only reads the many ways a value is written:

* dates: ``2026-01-31``, ``31.01.2026``, ``31/01/2026``, ``31-01-2026``, ``2026/01/31``;
  slash dates are day first unless the day-first reading is impossible (``12/31/2026``)
  or ``date_order="mdy"`` is given (US exports). Two-digit years are refused.
* numbers: ``1234.56``, ``1,234.56``, ``1.234,56``, ``1 234,56``, ``1'234.56``, currency
  signs; a lone comma with three digits after it (``1,234``) is ambiguous and refused
  unless ``decimal=","`` or ``decimal="."`` says which separator is decimal.
* enums by value or by any label in any language, case and accents ignored;
* booleans: yes/no, true/false, 1/0, ja/nein, oui/non, si, x (true), on/off.

Links (``link``, ``links``, ``user``, ``team``) are resolved against the database in
batches by ``engine.dataio.links``; here they are only split into their raw keys.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from engine.meta.model import FieldDef

TRUE = frozenset({"yes", "y", "true", "t", "1", "ja", "j", "oui", "si", "sí", "x", "on", "wahr", "da"})
FALSE = frozenset({"no", "n", "false", "f", "0", "nein", "non", "off", "falsch", "nee", "-"})
#: types a column cannot fill
NOT_IMPORTABLE = frozenset({"table", "file", "autonumber"})
#: reference types: resolved to record ids in batches (engine.dataio.links)
REFERENCES = frozenset({"link", "links", "user", "team"})
LIST_SPLIT = re.compile(r"\s*[;|\n]\s*")
_DATE_PATTERNS = (
    (re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})"), "ymd"),
    (re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})"), "ymd"),
    (re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})"), "dmy"),
    (re.compile(r"(\d{1,2})-(\d{1,2})-(\d{4})"), "dmy"),
    (re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})"), "slash"),
)
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?\s*(am|pm)?", re.I)
#: a time after a date, with an optional UTC offset: `` 00:00``, ``T00:00:00Z``, ``T00:00+02:00``
_TRAILING_TIME = re.compile(r"[T ]\s*(" + _TIME.pattern + r")\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?", re.I)
#: a currency sign or code before the number, also after its sign or accounting
#: parenthesis (``$5``, ``-$5``, ``($5)``, ``-EUR 5``) and after it (``5 €``, ``(5 €)``)
_CURRENCY_FIRST = re.compile(r"^([-+(]?)\s*(?:[€$£¥₹₽]|[A-Z]{3}\s)")
_CURRENCY_LAST = re.compile(r"(?:[€$£¥₹₽]|\s[A-Z]{3})\s*(\)?)$")


class ConversionError(ValueError):
    """A cell that cannot be read as its field's type; the message says what is expected."""


@dataclass(frozen=True)
class ConvertOptions:
    #: order of ambiguous slash dates: "dmy" (31/01/2026, most of the world) or "mdy" (US)
    date_order: str = "dmy"
    #: decimal separator: "auto", "." or ","
    decimal: str = "auto"
    #: time zone of datetimes written without an offset
    timezone: str = "UTC"


def fold(text: str) -> str:
    """Case, accents, spaces and punctuation ignored: ``"E-Mail Adresse"`` -> ``"emailadresse"``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c))


def label_texts(label: Any) -> list[str]:
    """Every language of a label: ``{en: Mr., de: Herr}`` -> ``["Mr.", "Herr"]``."""
    if isinstance(label, dict):
        return [str(v) for v in label.values() if v]
    return [str(label)] if label else []


def parse_date(text: str, order: str = "dmy") -> dt.date:
    value = text.strip()
    for pattern, kind in _DATE_PATTERNS:
        match = pattern.fullmatch(value) or pattern.match(value)
        if match is None:
            continue
        rest = value[match.end() :]
        if rest:
            clock = _TRAILING_TIME.fullmatch(rest)
            if clock is None:
                continue
            # a date cell saved with a time: midnight is the date alone (how spreadsheets
            # write dates), any other time would be lost, so it is refused
            if not _is_midnight(clock.group(1)):
                raise ConversionError(f"{text!r} has a time of day; a date field holds only the date.")
        a, b, c = (int(g) for g in match.groups())
        if kind == "ymd":
            year, month, day = a, b, c
        elif kind == "dmy":
            day, month, year = a, b, c
        elif a > 12 or (b <= 12 and order != "mdy"):
            day, month, year = a, b, c  # 31/01/2026, or day first by default
        else:
            month, day, year = a, b, c  # 12/31/2026 can only be month first
        try:
            return dt.date(year, month, day)
        except ValueError:
            raise ConversionError(f"Not a valid calendar date: {text!r}.") from None
    if re.fullmatch(r"\d{1,2}[./-]\d{1,2}[./-]\d{2}", value):
        raise ConversionError(f"Write the year with four digits: {text!r}.")
    raise ConversionError(f"Not a date: {text!r} (use 2026-01-31 or 31.01.2026).")


def _is_midnight(text: str) -> bool:
    """Whether a ``_TIME`` text is 00:00 (``12:00 am`` included)."""
    match = _TIME.fullmatch(text)
    assert match is not None
    hour, minute, second, fraction, half = match.groups()
    hour_of_day = int(hour) % 12 + (12 if half.lower() == "pm" else 0) if half else int(hour)
    return hour_of_day == 0 and int(minute) == 0 and int(second or 0) == 0 and int(fraction or 0) == 0


def parse_datetime(text: str, options: ConvertOptions) -> str:
    value = text.strip()
    try:
        parsed = dt.datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        parsed = None
    if parsed is None:
        day = parse_date(value.split("T")[0].split(" ")[0], options.date_order)
        rest = value[len(value.split("T")[0].split(" ")[0]) :].strip().lstrip("T").strip()
        moment = dt.time(0)
        if rest:
            match = _TIME.fullmatch(rest)
            if match is None:
                raise ConversionError(f"Not a date and time: {text!r} (use 2026-01-31 09:30).")
            hour, minute = int(match.group(1)), int(match.group(2))
            second = int(match.group(3) or 0)
            if match.group(5):
                if hour > 12:
                    raise ConversionError(f"Not a time: {rest!r}.")
                hour = hour % 12 + (12 if match.group(5).lower() == "pm" else 0)
            try:
                moment = dt.time(hour, minute, second)
            except ValueError:
                raise ConversionError(f"Not a time: {rest!r}.") from None
        parsed = dt.datetime.combine(day, moment)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(options.timezone))
    try:  # in UTC, as stored: an upsert key then matches the stored value whatever the offset
        return parsed.astimezone(dt.UTC).isoformat()
    except OverflowError:
        raise ConversionError(f"Out of range: {text!r}.") from None


class NumberText(str):
    """A number a spreadsheet stored as a number, as text (``"1234.5"``): read as it is,
    whatever decimal separator the file's text cells use (``--decimal ,``)."""

    __slots__ = ()


def parse_number(text: str, decimal: str = "auto") -> Decimal:
    if isinstance(text, NumberText):
        return Decimal(text)
    value = _CURRENCY_LAST.sub(r"\1", _CURRENCY_FIRST.sub(r"\1", text.strip())).strip()
    value = value.replace("\u00a0", "").replace("\u202f", "").replace(" ", "").replace("'", "").replace("\u2019", "")
    negative = value.startswith("(") and value.endswith(")")  # accounting style
    if negative:
        value = value[1:-1]
    commas, dots = value.count(","), value.count(".")
    if decimal == "auto" and commas and dots:
        decimal = "," if value.rfind(",") > value.rfind(".") else "."  # 1.234,56 or 1,234.56
    elif decimal == "auto" and commas:
        if re.fullmatch(r"[-+]?\d{1,3},\d{3}", value):
            raise ConversionError(
                f"Ambiguous number {text!r}: is the comma a thousands or a decimal separator? "
                "Set the decimal separator (--decimal , or --decimal .)."
            )
        decimal = "." if commas > 1 else ","  # 1,234,567 or 12,5
    elif decimal == "auto":
        decimal = "," if dots > 1 else "."  # 1.234.567 or 12.5
    thousands = "." if decimal == "," else ","
    if thousands in value:
        whole = value.split(decimal)[0].lstrip("+-")
        if not re.fullmatch(rf"\d{{1,3}}(\{thousands}\d{{3}})+", whole):
            raise ConversionError(f"Not a number: {text!r} (the decimal separator is {decimal!r}).")
        value = value.replace(thousands, "")
    value = value.replace(",", ".")
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", value):
        raise ConversionError(f"Not a number: {text!r}.")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ConversionError(f"Not a number: {text!r}.") from None
    return -number if negative else number


def parse_bool(text: str) -> bool:
    value = text.strip().casefold()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ConversionError(f"Not yes or no: {text!r} (use yes/no, true/false, 1/0, ja/nein or x).")


class EnumReader:
    """Enum values by value or by any label in any language."""

    def __init__(self, fd: FieldDef, translations: dict[str, str] | None = None):
        self.fd = fd
        self.values = [o.value for o in fd.enum_options]
        self.by_text: dict[str, str] = {}
        for option in fd.enum_options:
            for text in label_texts(option.label):
                self.by_text.setdefault(fold(text), option.value)
        for option in fd.enum_options:  # a value beats another option's label
            self.by_text[fold(option.value)] = option.value
        self.translations = {fold(k): v for k, v in (translations or {}).items()}

    def __call__(self, text: str) -> str:
        key = fold(text)
        if key in self.translations:
            return self.translations[key]
        if text in self.values:
            return text
        found = self.by_text.get(key)
        if found is None:
            shown = ", ".join(self.values[:12]) + (" ..." if len(self.values) > 12 else "")
            raise ConversionError(f"{text!r} is not one of: {shown}.")
        return found


def converter(
    fd: FieldDef, options: ConvertOptions, translations: dict[str, str] | None = None
) -> Callable[[str], Any]:
    """The function reading one non-empty cell of ``fd``; references are returned as raw keys."""
    t = fd.type
    if t in ("enum",):
        return EnumReader(fd, translations)
    if t == "multi_enum":
        one = EnumReader(fd, translations)
        return lambda text: list(dict.fromkeys(one(part) for part in _split(text)))
    if translations:
        table = {fold(k): v for k, v in translations.items()}
        inner = converter(fd, options)
        return lambda text: table[fold(text)] if fold(text) in table else inner(text)
    if t in ("int", "rating"):
        return lambda text: _integer(parse_number(text, options.decimal), text)
    if t == "duration":
        return lambda text: _integer(parse_number(text, options.decimal), text) if _numeric(text) else text.strip()
    if t in ("decimal", "money"):
        return lambda text: parse_number(text, options.decimal)
    if t == "percent":
        return lambda text: parse_number(text.strip().rstrip("%"), options.decimal)
    if t == "bool":
        return parse_bool
    if t == "date":
        return lambda text: parse_date(text, options.date_order).isoformat()
    if t == "datetime":
        return lambda text: parse_datetime(text, options)
    if t == "json":
        return _json
    if t == "links":
        return _split
    if t in ("email", "phone", "url", "string", "secret", "link", "user", "team"):
        return str.strip
    return lambda text: text  # text keeps its spacing and line breaks


def _split(text: str) -> list[str]:
    return [p for p in LIST_SPLIT.split(text.strip()) if p]


def _numeric(text: str) -> bool:
    return bool(re.fullmatch(r"\s*\d+\s*", text))


def _integer(number: Decimal, text: str) -> int:
    if number.adjusted() > 30:  # no whole-number column holds it, and int(1e2000000) takes minutes
        raise ConversionError(f"Out of range: {text!r}.")
    if number != number.to_integral_value():
        raise ConversionError(f"Not a whole number: {text!r}.")
    return int(number)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ConversionError("Not valid JSON.") from None
