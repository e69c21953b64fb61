"""CSV cells that a spreadsheet shows as text: a leading =, +, -, @, tab or carriage return is not a formula.

A ticket subject such as `=HYPERLINK("http://evil.example", "Click")` would otherwise run as a formula when an
export is opened in Excel or LibreOffice. The cell gets a leading single quote, which spreadsheets treat as "this
is text" and hide; readers of our own CSVs take it off again, so a round trip returns the text unchanged.

Reference: https://owasp.org/www-community/attacks/CSV_Injection
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def cell(value: Any) -> Any:
    """The value as written to a CSV cell; text that starts like a formula gets a leading quote."""
    if not isinstance(value, str):
        return value
    # Text that already starts with the quote and a formula character gets another, so reading it back is exact.
    if value.startswith(FORMULA_PREFIXES) or (value.startswith(QUOTE) and value[1:].startswith(FORMULA_PREFIXES)):
        return QUOTE + value
    return value


def uncell(value: str) -> str:
    """The text a cell written by cell() held."""
    if value.startswith(QUOTE) and value[1:].startswith((*FORMULA_PREFIXES, QUOTE)):
        return value[1:]
    return value


def cells(values: Iterable[Any]) -> list[Any]:
    """A row of cells, each neutralised."""
    return [cell(v) for v in values]
