"""``mentions(text)``: the active users a text refers to with ``@handle``.

A handle is the part of a user's e-mail address before the ``@`` (``@anna.berg`` for
``anna.berg@example.com``), matched case-insensitively; a handle starts after a space, a
line start or an opening bracket (so ``anna@example.com`` in the text is an address, not a
mention) and may hold letters, digits and ``. _ -`` (a trailing dot ends a sentence).
Unknown handles and inactive or deleted users give nothing.

The text is parsed here; the users are looked up through the evaluation environment
(``Env.users_by_handle``, provided by the data-access layer), so the function stays free
of any database code. It has no SQL form: it is meant for rule values such as
``notify: {to: '=mentions(body)'}``, defaults and validations; store its result in a
``links`` field to filter or grant on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.dsl.functions import Function

#: ``@handle`` after the start, whitespace or an opening bracket/quote
_MENTION = re.compile(r"(?:^|(?<=[\s(\[{\"'<]))@([A-Za-z0-9][A-Za-z0-9._-]*)")
#: the most handles one text is looked up with (a pasted list must not become a huge query)
MAX_HANDLES = 50


def handles(text: str | None) -> list[str]:
    """The distinct handles of ``text``, lower-cased, in order of first appearance."""
    found: dict[str, None] = {}
    for match in _MENTION.finditer(text or ""):
        handle = match.group(1).rstrip(".-_").lower()
        if handle:
            found.setdefault(handle, None)
    return list(found)[:MAX_HANDLES]


def _mentions(env: Any, text: str | None, before: str | None = None) -> list[str]:
    """Ids of the active users ``text`` mentions; with ``before``, only those it did not mention."""
    wanted = handles(text)
    if before:
        known = set(handles(before))
        wanted = [h for h in wanted if h not in known]
    return env.users_by_handle(wanted) if wanted else []


def register_mention_functions(add: Callable[[Function], None]) -> None:
    from engine.dsl.functions import Function

    add(
        Function(
            "mentions",
            "mentions(string, string?) -> users",
            _mentions,
            None,
            "The active users the text mentions as `@handle` (the part of their e-mail before the `@`, "
            "any case), as a list of user ids; unknown handles give nothing. With a second text (e.g. "
            "`old.body`), only users that text did not mention yet. No SQL form.",
            "mentions(body)",
            null_propagates=False,
            contextual=True,
        )
    )
