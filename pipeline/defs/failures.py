"""Errors an operator can act on become Dagster failures whose first line says what to fix."""

import contextlib
from collections.abc import Iterator

import dagster as dg

from pipeline.errors import ConfigurationError
from pipeline.store.lease import DayBusy, DayLeaseLost
from pipeline.vod.errors import FailingTooOften, FatalVodError


@contextlib.contextmanager
def operator_errors() -> Iterator[None]:
    try:
        yield
    except (ConfigurationError, FatalVodError, DayBusy, DayLeaseLost) as err:
        # Retrying cannot cure these: the run stops with the message, not a traceback to dig through.
        raise dg.Failure(description=describe(err), allow_retries=False) from err


def describe(err: ConfigurationError | FatalVodError | DayBusy | DayLeaseLost) -> str:
    """The failure's text, what to do on its first line: the UI and the CLI show that line first."""
    if not isinstance(err, FatalVodError):
        return str(err)
    if isinstance(err, FailingTooOften):  # not one refusal: the count of failures is the news
        return f"{err.message}: {err.hint}"
    # VOD's own message may run over several lines (SignatureDoesNotMatch quotes its string to sign),
    # so the code and the hint come first and VOD's words after.
    where = f" ({err.region})" if err.region else ""
    first = f"VOD{where} refused the call with {err.code}" + (f": {err.hint}" if err.hint else "")
    details = [f"RequestId {err.request_id}" if err.request_id else "", f"HTTP {err.http_status}" if err.http_status else ""]
    message = " ".join(err.message.split())
    return "\n".join(
        [first + (f" [{', '.join(d for d in details if d)}]" if any(details) else ""), *([f"VOD said: {message}"] if message else [])]
    )
