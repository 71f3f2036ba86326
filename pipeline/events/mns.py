"""VOD's events from an MNS queue into the inbox, through the official SDK (``mns`` of aliyun-mns-sdk).

A message is deleted from the queue only once the inbox holds it durably (``Inbox.add``, or ``Inbox.reject``
for a message that is not an event, has returned). So a consumer that stops between the two (killed, the
inbox failing, a delete that does not get through) loses nothing: MNS makes the message visible again after the
queue's VisibilityTimeout, it is received again, and the inbox, which knows an event by what it says, keeps it
once. Delivery is at least once; the inbox makes it once.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mns.account import Account
from mns.mns_exception import MNSClientNetworkException, MNSClientParameterException, MNSServerException
from mns.queue import Message, Queue

from pipeline.errors import ConfigurationError, PipelineError
from pipeline.events.inbox import BadEvent, Inbox, parse_event

log = logging.getLogger(__name__)

CHANNEL = "mns"
MAX_WAIT_SECONDS = 30  # MNS's longest long poll
MAX_BATCH = 16  # MNS's most messages per batch receive or delete
PREVIEW_CHARS = 120  # of a message that is not an event, in the log

# The answers retrying cannot cure, and what to set. MNS says which; the variables are the pipeline's.
REFUSALS = {
    "InvalidAccessKeyId": "MNS does not know the AccessKeyId: check ALIBABA_CLOUD_ACCESS_KEY_ID",
    "SignatureDoesNotMatch": "MNS rejected the request signature: check ALIBABA_CLOUD_ACCESS_KEY_SECRET (it must be "
    "the secret of ALIBABA_CLOUD_ACCESS_KEY_ID)",
    "AccessDenied": "the AccessKey may not read this queue: grant its RAM user mns:BatchReceiveMessage and "
    "mns:BatchDeleteMessage on VOD_MNS_QUEUE, or check ALIBABA_CLOUD_ACCESS_KEY_ID",
    "QueueNotExist": "there is no such queue at this endpoint: check VOD_MNS_QUEUE and VOD_MNS_ENDPOINT",
    "TimeExpired": "MNS found the request's Date more than 15 minutes off: check this machine's clock",
    # What MNS calls a missing, wrong or expired STS token is not documented; both spellings Alibaba Cloud uses
    "InvalidSecurityToken": "MNS refused the STS security token: check ALIBABA_CLOUD_SECURITY_TOKEN (temporary "
    "credentials expire: give the current token with its AccessKey pair)",
    "SecurityTokenExpired": "the STS security token has expired: renew ALIBABA_CLOUD_SECURITY_TOKEN and its AccessKey pair",
}


class MnsRefused(PipelineError):
    """MNS refused the consumer for good (credentials, permission, queue or clock): says what to set."""

    code: str
    request_id: str | None

    def __init__(self, code: str, hint: str, request_id: str | None = None):
        self.code, self.request_id = code, request_id
        super().__init__(f"MNS answered {code}: {hint}" + (f" [RequestId {request_id}]" if request_id else ""))


@dataclass
class ConsumeCounts:
    """What one ``consume`` did, message by message."""

    received: int = 0  # messages received, redeliveries included
    kept: int = 0  # events new to the inbox
    duplicates: int = 0  # events the inbox already held (a redelivery, or VOD sending one twice)
    rejected: int = 0  # messages that are not events, kept by Inbox.reject
    failed: int = 0  # messages the inbox could not keep: left in the queue, they come back
    deleted: int = 0  # messages deleted from the queue
    errors: int = 0  # MNS or network errors ridden out by waiting and trying again


def consume(
    endpoint: str,
    queue_name: str,
    access_key_id: str,
    access_key_secret: str,
    inbox: Inbox,
    *,
    stop: threading.Event,
    wait_seconds: int = 5,
    batch: int = MAX_BATCH,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    retry_wait_s: float = 1.0,
    retry_wait_max_s: float = 30.0,
    security_token: str | None = None,
) -> ConsumeCounts:
    """Moves VOD's events from the queue to ``inbox`` until ``stop`` is set (checked between long polls of
    ``wait_seconds``, so it ends within about that long). ``on_event`` is called with each event new to the
    inbox, once it is durable (if it raises, ``consume`` ends; the event is kept, and its message comes back
    and is kept once). MNS and network errors are logged and tried again, waiting up to ``retry_wait_max_s``;
    a refusal of the credentials or the queue raises ``MnsRefused``. With temporary (STS) credentials,
    ``security_token`` goes with every request."""
    if not 0 <= wait_seconds <= MAX_WAIT_SECONDS:
        raise ValueError(f"wait_seconds must be between 0 and {MAX_WAIT_SECONDS}, got {wait_seconds}")
    if not 1 <= batch <= MAX_BATCH:
        raise ValueError(f"batch must be between 1 and {MAX_BATCH}, got {batch}")
    queue = _open_queue(endpoint, queue_name, access_key_id, access_key_secret, security_token)
    counts = ConsumeCounts()
    failures = 0  # in a row, for the backoff
    try:
        while not stop.is_set():
            try:
                messages = _receive(queue, batch, wait_seconds)
            except (MNSServerException, MNSClientNetworkException) as err:
                failures += 1
                counts.errors += 1
                delay = random.uniform(0.5, 1.0) * min(retry_wait_max_s, retry_wait_s * 2 ** (failures - 1))
                log.warning("MNS receive from %s failed (%s); trying again in %.1f s", queue_name, _describe(err), delay)
                stop.wait(delay)
                continue
            failures = 0
            counts.received += len(messages)
            handles = [message.receipt_handle for message in messages if _keep(message, inbox, counts, on_event)]
            _delete(queue, handles, counts)
    finally:
        queue.mns_client.close_connection()
    return counts


def _open_queue(endpoint: str, queue_name: str, access_key_id: str, access_key_secret: str, security_token: str | None = None) -> Queue:
    missing = [
        name
        for name, value in (
            ("VOD_MNS_ENDPOINT", endpoint),
            ("VOD_MNS_QUEUE", queue_name),
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", access_key_id),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", access_key_secret),
        )
        if not value
    ]
    if missing:
        raise ConfigurationError(f"reading VOD's events from MNS needs {', '.join(missing)}")
    try:
        queue = Account(endpoint, access_key_id, access_key_secret, security_token or "").get_queue(queue_name)
    except MNSClientParameterException:
        raise ConfigurationError(
            f"VOD_MNS_ENDPOINT must start with http:// or https:// (like http://<uid>.mns.<region>.aliyuncs.com), got {endpoint!r}"
        ) from None
    queue.set_encoding(False)  # bodies as they are: the SDK's default base64-decodes them, and VOD's are JSON
    return queue


def _receive(queue: Queue, batch: int, wait_seconds: int) -> list[Message]:
    """One long poll: the messages received, none when the queue stayed empty."""
    try:
        return queue.batch_receive_message(batch, wait_seconds)
    except MNSServerException as err:
        if err.type == "MessageNotExist":
            return []
        _raise_if_refused(err)
        raise


def _keep(message: Message, inbox: Inbox, counts: ConsumeCounts, on_event: Callable[[dict[str, Any]], None] | None) -> bool:
    """Puts the message in the inbox; True once it is durable there (and may be deleted from the queue)."""
    body = message.message_body
    event: dict[str, Any] | None = None
    reason, new = "", False
    try:
        event = parse_event(body)
    except BadEvent as err:
        reason = str(err)
    try:
        if event is None:
            inbox.reject(body, channel=CHANNEL, reason=reason)
        else:
            new = inbox.add(event, channel=CHANNEL)
    except Exception as err:  # whatever the inbox failed on, the message stays in the queue and comes back
        counts.failed += 1
        log.error(
            "could not keep MNS message %s (%s: %s); it stays in the queue and comes back after its visibility timeout",
            message.message_id,
            type(err).__name__,
            err,
        )
        return False
    if event is None:
        counts.rejected += 1
        log.warning("MNS message %s is not a VOD event (%s); kept aside: %s", message.message_id, reason, _preview(body))
        return True
    if new:
        counts.kept += 1
        if on_event is not None:
            on_event(event)
    else:
        counts.duplicates += 1
    return True


def _delete(queue: Queue, handles: list[str], counts: ConsumeCounts) -> None:
    """Deletes the durable messages. A delete that fails is only logged: the message comes back, and the inbox
    keeps it once."""
    if not handles:
        return
    try:
        queue.batch_delete_message(handles)
        counts.deleted += len(handles)
    except MNSServerException as err:
        _raise_if_refused(err)
        failed = len(err.sub_errors) if err.sub_errors else len(handles)
        counts.deleted += len(handles) - failed
        log.warning(
            "MNS did not delete %d of %d messages kept (%s); they will be received again, and kept once",
            failed,
            len(handles),
            _describe(err),
        )
    except MNSClientNetworkException as err:
        log.warning(
            "could not delete %d messages kept (%s); they will be received again, and kept once",
            len(handles),
            _describe(err),
        )


def _raise_if_refused(err: MNSServerException) -> None:
    if err.type in REFUSALS:
        raise MnsRefused(err.type, REFUSALS[err.type], err.req_id) from None


def _describe(err: MNSServerException | MNSClientNetworkException) -> str:
    # The SDK puts a whole answer it could not read (RespDataDamaged) in the message: messages' bodies included.
    text = f"{err.type}: {_preview(str(err.message))}"
    if isinstance(err, MNSServerException) and err.req_id:
        text += f" [RequestId {err.req_id}]"
    elif isinstance(err, MNSClientNetworkException):
        text += "; check VOD_MNS_ENDPOINT"
    return text


def _preview(body: str | bytes) -> str:
    """The start of a body, for the log: never the whole of a long one."""
    text = body if isinstance(body, str) else body.decode("utf-8", "replace")
    more = len(text) - PREVIEW_CHARS
    return repr(text[:PREVIEW_CHARS]) + (f" (and {more} more characters)" if more > 0 else "")
