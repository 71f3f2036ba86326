"""Errors an operator can act on become Dagster failures whose first line says what to fix."""

import contextlib
from collections.abc import Iterator

import dagster as dg

from pipeline.errors import ConfigurationError, FatalVodError


@contextlib.contextmanager
def operator_errors() -> Iterator[None]:
    try:
        yield
    except (ConfigurationError, FatalVodError) as err:
        # Retrying cannot cure these: the run stops with the message, not a traceback to dig through.
        raise dg.Failure(description=str(err), allow_retries=False) from err
