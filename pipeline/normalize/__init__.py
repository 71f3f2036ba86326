"""Strings to types: VOD's answers become typed sticker rows or quarantined rows (``rules``), and a typed
day is checked before it is published (``quality``)."""

from pipeline.normalize.rules import (
    CHUNK_ROWS,
    DEFAULT_URL_VALIDITY_S,
    Chunk,
    Normalizer,
)

__all__ = ["CHUNK_ROWS", "DEFAULT_URL_VALIDITY_S", "Chunk", "Normalizer"]
