"""Match keys: values reduced to the form two "same" values share.

Duplicate rules (``engine.storage.duplicates``) compare records by these keys, never by
the raw text: ``Info@ACME.de `` and ``info@acme.de`` are one address, ``030 1234567`` and
``+49 30 1234567`` one number (in region DE), ``ACME GmbH`` and ``Acme`` one company.
Each normaliser returns ``None`` when the value gives no usable key (empty, too short),
so a blank field never matches another blank field.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import phonenumbers

#: words that say what kind of company it is, not which one ("Acme GmbH" is "Acme")
LEGAL_FORMS = frozenset(
    {
        "ab",
        "ag",
        "and",
        "aps",
        "as",
        "asa",
        "bv",
        "bvba",
        "co",
        "company",
        "corp",
        "corporation",
        "cv",
        "de",
        "eg",
        "ek",
        "ev",
        "fze",
        "fzco",
        "fzllc",
        "gbr",
        "gesmbh",
        "gmbh",
        "inc",
        "incorporated",
        "kft",
        "kg",
        "kgaa",
        "limited",
        "llc",
        "llp",
        "lp",
        "ltd",
        "mbh",
        "nv",
        "oao",
        "ooo",
        "oy",
        "pao",
        "pjsc",
        "plc",
        "private",
        "pte",
        "pty",
        "pvt",
        "sa",
        "sab",
        "sac",
        "sae",
        "sal",
        "sarl",
        "sas",
        "sasu",
        "sc",
        "scs",
        "se",
        "sl",
        "sp",
        "spa",
        "sprl",
        "srl",
        "sro",
        "the",
        "ug",
        "und",
        "zao",
        "zrt",
    }
)
#: letters with dots between them ("s.a.", "g.m.b.h.", "e.v", "s.p.a.")
_DOTTED = re.compile(r"(?<!\w)[^\W\d_](?:\.[^\W\d_])+\.?(?!\w)")
_PUNCT = re.compile(r"[^\w\s]|_")
_SPACE = re.compile(r"\s+")
_DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def email_key(value: Any, **_: Any) -> str | None:
    """Lower case, trimmed; ``None`` unless it looks like ``local@domain``."""
    text = _text(value)
    if text is None or "@" not in text:
        return None
    return text.lower()


def domain_key(value: Any, **_: Any) -> str | None:
    """The host of a URL, e-mail address or bare domain, lower case, without ``www.``."""
    text = _text(value)
    if text is None:
        return None
    text = text.lower()
    if "@" in text and "://" not in text:
        host = text.rsplit("@", 1)[1]
    else:
        try:
            host = urlsplit(text if "://" in text else f"http://{text}").hostname or ""
        except ValueError:  # no URL at all (``[+-]?`` reads as a bracketed IPv6 host): no domain
            return None
    host = host.strip(".").removeprefix("www.")
    return host if _DOMAIN.match(host) else None


def phone_key(value: Any, region: str | None = None, **_: Any) -> str | None:
    """E.164 (``+49301234567``) when the number parses, numbers without a country prefix
    read in ``region``; else the bare digits, so two unparsable spellings still match."""
    text = _text(value)
    if text is None:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_possible_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    digits = re.sub(r"\D", "", text)
    if len(digits) < 5:
        return None
    return ("+" if text.startswith("+") else "") + digits


def _undotted(match: re.Match[str]) -> str:
    """``s.a.`` as ``sa`` when that is a legal form; other initials (``j.r.``) as they were."""
    word = match.group().replace(".", "")
    return word if word in LEGAL_FORMS else match.group()


def name_key(value: Any, **_: Any) -> str | None:
    """Case, accents, punctuation and legal forms ignored: ``ACME GmbH & Co. KG`` is ``acme``,
    and so is ``Acme S.A.`` (a legal form spelt with dots is the same word).

    Stored keys are rebuilt only when their kind changes: a change to what this returns
    needs a new version in ``engine.meta.duplicates.KEY_VERSIONS``."""
    text = _text(value)
    if text is None:
        return None
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    words = _SPACE.sub(" ", _PUNCT.sub(" ", _DOTTED.sub(_undotted, folded))).split()
    kept = [w for w in words if w not in LEGAL_FORMS]
    return " ".join(kept or words) or None


def exact_key(value: Any, **_: Any) -> str | None:
    """Trimmed, lower case, inner white space collapsed (tax ids, registration numbers)."""
    text = _text(value)
    return None if text is None else _SPACE.sub(" ", text.lower())


NORMALISERS: dict[str, Callable[..., str | None]] = {
    "email": email_key,
    "phone": phone_key,
    "domain": domain_key,
    "name": name_key,
    "exact": exact_key,
}
#: field types whose values a normaliser may read (everything else is refused at load time)
TEXT_TYPES = frozenset({"string", "text", "email", "phone", "url", "enum"})


def normalise(kind: str, value: Any, region: str | None = None) -> str | None:
    """The match key of ``value`` under normaliser ``kind`` (at most 255 characters)."""
    key = NORMALISERS[kind](value, region=region)
    return key[:255] if key else None
