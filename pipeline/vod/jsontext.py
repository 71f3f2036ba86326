"""VOD's JSON read as data: a string escape no text can hold (an unpaired UTF-16 surrogate, ``\\ud800``) is
kept as the escape VOD wrote, so every string read is text that Parquet, DuckDB and UTF-8 files hold."""

from __future__ import annotations

import json
import re
from typing import Any

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_UNPAIRED = re.compile("[\ud800-\udfff]")  # json pairs the valid ones into one character: these are alone


def loads(body: bytes | str) -> Any:
    """``json.loads``, with each unpaired surrogate of a string kept as its escape (six characters)."""
    document = json.loads(body)
    raw = body if isinstance(body, bytes | bytearray) else body.encode("utf-8", "surrogatepass")
    if _SURROGATE_ESCAPE.search(raw) is None:  # almost every answer: nothing to mend
        return document
    return _mended(document)


def _mended(value: Any) -> Any:
    if isinstance(value, str):
        return _UNPAIRED.sub(lambda m: f"\\u{ord(m.group()):04x}", value)
    if isinstance(value, list):
        return [_mended(v) for v in value]
    if isinstance(value, dict):
        return {_mended(k): _mended(v) for k, v in value.items()}
    return value
