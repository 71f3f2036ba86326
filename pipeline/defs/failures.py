"""Errors an operator can act on become Dagster failures whose first line says what to fix."""

import contextlib
from collections.abc import Iterator

import dagster as dg

from pipeline import settings
from pipeline.errors import ConfigurationError
from pipeline.store.lease import DayBusy, DayLeaseLost
from pipeline.vod.errors import FailingTooOften, FatalVodError


@contextlib.contextmanager
def operator_errors(account: str | None = None) -> Iterator[None]:
    """Turns the errors an operator can act on into a failure saying what to fix (of ``account``, in a
    deployment of several: its name first, and the variables VOD_ACCOUNTS_FILE gives it for its keys)."""
    try:
        yield
    except (ConfigurationError, FatalVodError, DayBusy, DayLeaseLost) as err:
        # Retrying cannot cure these: the run stops with the message, not a traceback to dig through.
        text = describe(err)
        if account is not None and not text.startswith(f"Account {account}"):
            text = f"Account {account}: {_in_accounts_words(text, account)}"
        raise dg.Failure(description=text, allow_retries=False) from err


def _in_accounts_words(text: str, account: str) -> str:
    """``text`` naming the account's own variables where it names a deployment of one account's."""
    try:
        entry = (settings.accounts_from_env() or {}).get(account)
    except ConfigurationError:
        entry = None
    if entry is None:
        return text
    for standard, own in (
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", entry.access_key_id_env),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", entry.access_key_secret_env),
        ("ALIBABA_CLOUD_SECURITY_TOKEN", entry.security_token_env or "its security_token_env"),
    ):
        text = text.replace(standard, own)
    return text


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
