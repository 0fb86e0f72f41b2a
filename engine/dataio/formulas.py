"""Neutralising spreadsheet formulas in exported CSV cells (CSV injection).

A spreadsheet program opening a CSV file runs a cell that starts with ``=``, ``+``, ``-``
or ``@`` as a formula (``=cmd|' /C calc'!A0`` starts a program through DDE), and a
leading tab or carriage return can hide such a start. Any text a user typed into a record
may end up in an export, so every text cell of a CSV export goes through
:func:`neutralise`, which prefixes a single quote: the value shows as text and never runs.
Numbers, booleans and dates are not text and are left alone (a negative number stays a
number). XLSX needs none of this: its text cells are typed as text, which a spreadsheet
never evaluates (``engine.dataio.writers``). JSON Lines are for programs, not
spreadsheets, and keep values unchanged.
"""

from __future__ import annotations

from typing import Any

#: a cell starting with one of these is read as a formula by spreadsheet programs
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """``value``, or a text a spreadsheet would run as a formula prefixed with ``'`` (as text)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
