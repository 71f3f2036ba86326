"""Markdown tables, for the Dagster UI's previews and the analysts' page."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table; missing values are left blank."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# Every ASCII punctuation character may be escaped in CommonMark: those that start markup are
_MARKUP = str.maketrans({c: "\\" + c for c in "\\`*_{}[]<>()#+-.!~&$"})  # | is the cell's own


def literal(text: str) -> str:
    """``text`` as markdown that shows it as written: no emphasis, link, HTML or entity is read from it."""
    return text.translate(_MARKUP)


def _cell(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    # A line ending (CommonMark: LF, CR or both) would end the table's row
    return str(value).replace("|", "\\|").replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
