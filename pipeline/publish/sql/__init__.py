"""The warehouse's and the report's SQL, kept as ``.sql`` files in this folder."""

from __future__ import annotations

import string
from functools import cache
from importlib import resources


def load(file: str, /, **values: str) -> str:
    """The text of ``file`` (``warehouse.sql``, ...), with its ``$placeholders`` filled from ``values``."""
    text = _read(file)
    return string.Template(text).substitute(values) if values else text


@cache
def _read(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
