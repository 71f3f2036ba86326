"""VOD's events through an MNS queue: the local MNS stand-in, spoken to by the official SDK over real HTTP, and
the consumer that moves the events into the inbox, deleting a message only once the inbox holds it."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import select
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.queue import Message, Queue, QueueMeta

from localvod import LocalMnsService, MnsQueueSink
from pipeline import settings
from pipeline.errors import ConfigurationError
from pipeline.events.inbox import Inbox
from pipeline.events.mns import ConsumeCounts, MnsRefused, consume
from tests.conftest import KEY_ID, KEY_SECRET, REPO

QUEUE = "vod-events"
VISIBILITY_S = 0.5
LONG_POLL_SCALE = 0.1  # the consumer's 1 s long polls last 0.1 s on an empty queue: it stops that soon


@pytest.fixture
def mns() -> Iterator[LocalMnsService]:
    with LocalMnsService(
        (QUEUE,), access_key_id=KEY_ID, access_key_secret=KEY_SECRET, visibility_timeout=VISIBILITY_S, long_poll_scale=LONG_POLL_SCALE
    ) as service:
        yield service


@pytest.fixture
def inbox(tmp_path) -> Iterator[Inbox]:
    with Inbox(tmp_path / "inbox.sqlite") as box:
        yield box


def sdk_queue(service: LocalMnsService, *, key_id: str = KEY_ID, secret: str = KEY_SECRET) -> Queue:
    queue = Account(service.endpoint, key_id, secret).get_queue(QUEUE)
    queue.set_encoding(False)
    return queue


def vod_event(video_id: str, event_type: str = "FileUploadComplete", **fields: Any) -> dict[str, Any]:
    return {"EventType": event_type, "EventTime": "2026-03-20T07:49:17Z", "VideoId": video_id, "Status": "success", **fields}


def consume_until(service: LocalMnsService, inbox: Inbox, done: Callable[[], bool], **options: Any) -> ConsumeCounts:
    """Runs the consumer in a thread until ``done()``, then stops it; its counts."""
    stop = threading.Event()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["counts"] = consume(service.endpoint, QUEUE, KEY_ID, KEY_SECRET, inbox, stop=stop, wait_seconds=1, **options)
        except BaseException as err:  # handed to the test
            outcome["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not done():
        assert thread.is_alive(), f"the consumer ended early: {outcome}"
        assert time.monotonic() < deadline, f"gave up waiting; the queue holds {service.messages(QUEUE)}"
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the consumer did not stop"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["counts"]


def queue_is_empty(service: LocalMnsService) -> Callable[[], bool]:
    return lambda: not service.messages(QUEUE)


# --- the stand-in, as the SDK sees it ------------------------------------------------------------------------


@pytest.mark.server
def test_a_received_message_comes_back_after_the_visibility_timeout_with_a_new_handle(mns):
    queue = sdk_queue(mns)
    body = json.dumps(vod_event("v1", Title="贴纸"), ensure_ascii=False)
    sent = queue.send_message(Message(body))
    assert sent.message_body_md5 == hashlib.md5(body.encode()).hexdigest().upper()

    first = queue.receive_message(wait_seconds=0)
    assert (first.message_id, first.message_body, first.dequeue_count) == (sent.message_id, body, 1)
    assert first.message_body_md5 == sent.message_body_md5
    with pytest.raises(MNSServerException) as empty:  # invisible while the first receiver works on it
        queue.receive_message(wait_seconds=0)
    assert empty.value.type == "MessageNotExist"

    second = queue.receive_message(wait_seconds=10)  # visible again once the timeout has passed
    assert (second.message_id, second.dequeue_count) == (sent.message_id, 2)
    assert second.receipt_handle != first.receipt_handle
    assert second.first_dequeue_time == first.first_dequeue_time
    with pytest.raises(MNSServerException) as stale:
        queue.delete_message(first.receipt_handle)
    assert stale.value.type == "ReceiptHandleError"
    queue.delete_message(second.receipt_handle)
    assert mns.messages(QUEUE) == []
    assert mns.stats["redelivered"] == 1 and mns.stats["stale_handles"] == 1


@pytest.mark.server
def test_batches_hold_at_most_16_messages_each_with_its_own_id(mns):
    queue = sdk_queue(mns)
    bodies = [f'{{"EventType":"FileUploadComplete","VideoId":"v{i}"}}' for i in range(20)]
    sent = queue.batch_send_message([Message(body) for body in bodies[:16]])
    sent += [queue.send_message(Message(body)) for body in bodies[16:]]
    assert len({message.message_id for message in sent}) == 20

    batch = queue.batch_receive_message(16, wait_seconds=0)
    rest = queue.batch_receive_message(16, wait_seconds=0)
    assert [m.message_body for m in batch + rest] == bodies  # in the order sent
    assert all(m.message_body_md5 == hashlib.md5(m.message_body.encode()).hexdigest().upper() for m in batch)
    with pytest.raises(MNSServerException) as too_many:
        queue.batch_receive_message(17, wait_seconds=0)
    assert too_many.value.type == "InvalidArgument"


@pytest.mark.server
def test_a_long_poll_gets_the_message_sent_while_it_waits(mns):
    queue = sdk_queue(mns)
    sender = threading.Timer(0.2, lambda: sdk_queue(mns).send_message(Message('{"EventType":"FileUploadComplete"}')))
    sender.start()
    [message] = queue.batch_receive_message(16, wait_seconds=10)
    sender.join()
    assert message.message_body == '{"EventType":"FileUploadComplete"}'


@pytest.mark.server
def test_a_batch_delete_deletes_the_valid_handles_and_names_the_stale_ones(mns):
    queue = sdk_queue(mns)
    queue.batch_send_message([Message("a"), Message("b")])
    a, b = queue.batch_receive_message(16, wait_seconds=0)
    with pytest.raises(MNSServerException) as partly:
        queue.batch_delete_message([a.receipt_handle, "1-not-a-handle"])
    assert partly.value.type == "ReceiptHandleError"
    assert [error["ReceiptHandle"] for error in partly.value.sub_errors] == ["1-not-a-handle"]
    assert [m.body for m in mns.messages(QUEUE)] == ["b"]


@pytest.mark.parametrize(
    ("key_id", "secret", "code"),
    [(KEY_ID, "not-the-secret", "SignatureDoesNotMatch"), ("someone-else", KEY_SECRET, "InvalidAccessKeyId")],
)
@pytest.mark.server
def test_a_wrong_secret_or_key_is_refused_with_the_error_the_sdk_raises(mns, key_id, secret, code):
    with pytest.raises(MNSServerException) as refused:
        sdk_queue(mns, key_id=key_id, secret=secret).send_message(Message('{"EventType":"FileUploadComplete"}'))
    assert refused.value.type == code
    assert refused.value.req_id  # MNS's x-mns-request-id, for a ticket
    assert mns.messages(QUEUE) == [] and mns.stats["auth_errors"] == 1


@pytest.mark.server
def test_the_sink_sends_each_event_as_one_message_of_its_json_or_of_base64_of_it(mns):
    event = vod_event("v1", Title="贴纸")
    MnsQueueSink(mns.endpoint, QUEUE, KEY_ID, KEY_SECRET)(event)
    MnsQueueSink(mns.endpoint, QUEUE, KEY_ID, KEY_SECRET, base64_bodies=True)(event)
    raw, encoded = mns.messages(QUEUE)
    assert json.loads(raw.body) == event
    assert json.loads(base64.b64decode(encoded.body)) == event


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK's own, on attributes MNS is retiring
@pytest.mark.server
def test_queues_can_be_created_and_read_through_the_sdk(mns):
    other = Account(mns.endpoint, KEY_ID, KEY_SECRET).get_queue("vod-events-eu")
    assert other.create(QueueMeta(vis_timeout=45)) == f"{mns.endpoint}/queues/vod-events-eu"
    assert other.get_attributes().visibility_timeout == 45
    assert sdk_queue(mns).get_attributes().visibility_timeout == 1  # 0.5 s, shown in whole seconds as MNS does


# --- the consumer ---------------------------------------------------------------------------------------------


@pytest.mark.server
def test_events_sent_by_vod_arrive_in_the_inbox_once_each(mns, inbox):
    sink = MnsQueueSink(mns.endpoint, QUEUE, KEY_ID, KEY_SECRET)
    events = [vod_event("v1"), vod_event("v2", "StreamTranscodeComplete", JobId="j2"), vod_event("v3")]
    for event in [*events, events[0]]:  # VOD sent the first one twice
        sink(event)
    told: list[dict[str, Any]] = []

    counts = consume_until(mns, inbox, queue_is_empty(mns), on_event=told.append)

    assert [stored.body for stored in inbox.since()] == events
    assert {stored.channel for stored in inbox.since()} == {"mns"}
    assert told == events
    assert (counts.received, counts.kept, counts.duplicates, counts.deleted) == (4, 3, 1, 4)


@pytest.mark.server
def test_raw_json_and_base64_bodies_are_both_read(mns, inbox):
    MnsQueueSink(mns.endpoint, QUEUE, KEY_ID, KEY_SECRET)(vod_event("raw"))
    MnsQueueSink(mns.endpoint, QUEUE, KEY_ID, KEY_SECRET, base64_bodies=True)(vod_event("encoded"))
    assert [m.body.startswith("{") for m in mns.messages(QUEUE)] == [True, False]

    consume_until(mns, inbox, queue_is_empty(mns))

    assert [stored.video_id for stored in inbox.since()] == ["raw", "encoded"]
    assert inbox.rejected() == []


class FailingInbox(Inbox):
    """An inbox that cannot keep the events of some videos (as with a full disk)."""

    failing_videos: set[str] = set()

    def add(self, event: dict[str, Any], **kwargs: Any) -> bool:
        if event.get("VideoId") in self.failing_videos:
            raise sqlite3.OperationalError("database or disk is full")
        return super().add(event, **kwargs)


@pytest.mark.server
def test_a_message_is_deleted_only_once_the_inbox_holds_it(mns, tmp_path, caplog):
    sink = MnsQueueSink(mns.endpoint, QUEUE, KEY_ID, KEY_SECRET)
    for video in ("v1", "v2", "v3"):
        sink(vod_event(video))
    with FailingInbox(tmp_path / "inbox.sqlite") as inbox:
        inbox.failing_videos = {"v2"}
        counts = consume_until(mns, inbox, lambda: len(inbox) == 2 and len(mns.messages(QUEUE)) == 1)
        [left] = mns.messages(QUEUE)
        assert json.loads(left.body)["VideoId"] == "v2"  # still in the queue, to come back
        assert counts.failed >= 1 and counts.deleted == 2
        assert f"could not keep MNS message {left.message_id}" in caplog.text

        inbox.failing_videos = set()  # the disk has room again
        consume_until(mns, inbox, queue_is_empty(mns))

        assert sorted(stored.video_id for stored in inbox.since()) == ["v1", "v2", "v3"]
    assert mns.stats["redelivered"] >= 1


CONSUMER_IN_A_CHILD = """
import sys, threading, time
from pathlib import Path
from pipeline.events.inbox import Inbox
from pipeline.events.mns import consume

endpoint, queue, key_id, secret, path, when = sys.argv[1:]

class Stalling(Inbox):
    # Says when it holds a message, then waits to be killed: before the inbox commits it, or after.
    def add(self, event, **kwargs):
        if when == "before-commit":
            print("received", flush=True)
            time.sleep(600)
        kept = super().add(event, **kwargs)
        print("committed", flush=True)
        time.sleep(600)
        return kept

consume(endpoint, queue, key_id, secret, Stalling(Path(path)), stop=threading.Event(), wait_seconds=1)
"""


@pytest.mark.parametrize("when", ["before-commit", "after-commit"])
@pytest.mark.server
def test_a_consumer_killed_between_receive_and_delete_loses_nothing(mns, tmp_path, when):
    event = vod_event("v1")
    MnsQueueSink(mns.endpoint, QUEUE, KEY_ID, KEY_SECRET)(event)
    path = tmp_path / "inbox.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", CONSUMER_IN_A_CHILD, mns.endpoint, QUEUE, KEY_ID, KEY_SECRET, str(path), when],
        cwd=REPO,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        ready, _, _ = select.select([child.stdout], [], [], 30)
        assert ready and child.stdout.readline().strip(), "the child never got the message"
        os.killpg(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.stdout.close()

    [message] = mns.messages(QUEUE)  # received, never deleted
    assert message.dequeue_count == 1
    with Inbox(path) as inbox:
        assert len(inbox) == (1 if when == "after-commit" else 0)
        counts = consume_until(mns, inbox, queue_is_empty(mns))
        assert [stored.body for stored in inbox.since()] == [event]
    assert (counts.kept, counts.duplicates) == ((0, 1) if when == "after-commit" else (1, 0))


@pytest.mark.parametrize(
    ("key_id", "secret", "queue", "names"),
    [
        (KEY_ID, "not-the-secret", QUEUE, "ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
        ("someone-else", KEY_SECRET, QUEUE, "ALIBABA_CLOUD_ACCESS_KEY_ID"),
        (KEY_ID, KEY_SECRET, "no-such-queue", "VOD_MNS_QUEUE"),
    ],
)
@pytest.mark.server
def test_refused_credentials_or_queue_stop_the_consumer_naming_what_to_set(mns, inbox, caplog, key_id, secret, queue, names):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MnsRefused) as refused:
        consume(mns.endpoint, queue, key_id, secret, inbox, stop=threading.Event(), wait_seconds=1)
    assert names in str(refused.value)
    assert "RequestId" in str(refused.value)
    assert "not-the-secret" not in str(refused.value) + caplog.text
    assert KEY_SECRET not in str(refused.value) + caplog.text


def test_an_endpoint_that_is_not_a_url_is_named(inbox):
    with pytest.raises(ConfigurationError, match="VOD_MNS_ENDPOINT"):
        consume("mns.cn-shanghai.aliyuncs.com", QUEUE, KEY_ID, KEY_SECRET, inbox, stop=threading.Event())


@pytest.mark.server
def test_a_message_that_is_not_an_event_is_kept_aside_and_deleted(mns, inbox, caplog):
    queue = sdk_queue(mns)
    long_text = "not an event " * 200
    for body in ("hello", '{"VideoId":"v1"}', long_text):
        queue.send_message(Message(body))

    counts = consume_until(mns, inbox, queue_is_empty(mns))

    rejected = inbox.rejected()
    assert [(channel, body) for _, channel, _, body in rejected] == [
        ("mns", b"hello"),
        ("mns", b'{"VideoId":"v1"}'),
        ("mns", long_text.encode()),
    ]
    assert [reason for _, _, reason, _ in rejected] == ["not JSON, nor base64 of JSON", "no EventType", "not JSON, nor base64 of JSON"]
    assert len(inbox) == 0 and counts.rejected == 3
    assert long_text not in caplog.text  # the log shows the start of a long body only
    assert "is not a VOD event" in caplog.text


@pytest.mark.server
def test_server_errors_are_waited_out(mns, inbox, caplog):
    MnsQueueSink(mns.endpoint, QUEUE, KEY_ID, KEY_SECRET)(vod_event("v1"))
    mns.inject_errors(2, status=503, code="ServiceUnavailable", message="Service is busy.")

    counts = consume_until(mns, inbox, queue_is_empty(mns), retry_wait_s=0.01)

    assert counts.errors == 2 and counts.kept == 1
    assert "ServiceUnavailable" in caplog.text


@pytest.mark.server
def test_setting_stop_ends_the_loop(mns, inbox):
    stop = threading.Event()
    outcome: list[ConsumeCounts] = []
    thread = threading.Thread(
        target=lambda: outcome.append(consume(mns.endpoint, QUEUE, KEY_ID, KEY_SECRET, inbox, stop=stop, wait_seconds=1)),
    )
    thread.start()
    deadline = time.monotonic() + 10
    while mns.stats["empty_receives"] == 0:  # it is polling the empty queue
        assert time.monotonic() < deadline
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert outcome == [ConsumeCounts()]


def _events_command(tmp_path, mns: LocalMnsService, secret: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PIPELINE_DATA_DIR": str(tmp_path / "data"),
        "VOD_EVENTS_PORT": "0",
        "VOD_MNS_ENDPOINT": mns.endpoint,
        "VOD_MNS_QUEUE": QUEUE,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "events", "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


@pytest.mark.server
def test_vod_stickers_events_reads_the_queue_into_the_data_directorys_inbox(tmp_path, mns):
    sink = MnsQueueSink(mns.endpoint, QUEUE, KEY_ID, KEY_SECRET)
    for n in range(5):
        sink(vod_event(f"video{n}", "DynamicImageComplete", JobId=f"job{n}"))
    command = _events_command(tmp_path, mns, KEY_SECRET)
    try:
        deadline = time.monotonic() + 30
        while mns.messages(QUEUE) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        command.send_signal(signal.SIGTERM)
        out, err = command.communicate(timeout=40)
    assert command.returncode == 0, err
    assert f"Reading the MNS queue {QUEUE}" in out
    assert mns.messages(QUEUE) == []  # each deleted once kept
    with Inbox(tmp_path / "data" / "events" / "inbox.sqlite") as kept:
        assert sorted((e.video_id, e.channel) for e in kept.since(0)) == [(f"video{n}", "mns") for n in range(5)]


@pytest.mark.server
def test_vod_stickers_events_with_a_wrong_secret_stops_in_one_line_naming_it(tmp_path, mns):
    command = _events_command(tmp_path, mns, "not-the-secret")
    out, err = command.communicate(timeout=60)
    assert command.returncode == 2
    lines = err.strip().splitlines()
    assert lines[-1].startswith("vod-stickers: the MNS queue cannot be read:") and "ALIBABA_CLOUD_ACCESS_KEY_SECRET" in lines[-1]
    assert "not-the-secret" not in out + err


@pytest.mark.server
def test_an_account_on_temporary_credentials_reads_its_queue_with_its_sts_token(inbox, caplog):
    caplog.set_level(logging.DEBUG)
    token = "CAIS-sts-token-of-the-account-0000"
    with LocalMnsService(
        (QUEUE,),
        access_key_id=KEY_ID,
        access_key_secret=KEY_SECRET,
        security_token=token,
        visibility_timeout=VISIBILITY_S,
        long_poll_scale=LONG_POLL_SCALE,
    ) as service:
        with pytest.raises(MnsRefused, match="ALIBABA_CLOUD_SECURITY_TOKEN"):  # the pair alone is refused
            consume(service.endpoint, QUEUE, KEY_ID, KEY_SECRET, inbox, stop=threading.Event(), wait_seconds=1)
        queue = Account(service.endpoint, KEY_ID, KEY_SECRET, token).get_queue(QUEUE)
        queue.set_encoding(False)
        queue.send_message(Message(json.dumps(vod_event("v-sts"))))
        consume_until(service, inbox, lambda: len(inbox) == 1, security_token=token)
    assert [e.video_id for e in inbox.since(0)] == ["v-sts"]
    assert token not in caplog.text


def test_the_events_settings_carry_the_sts_token_to_the_queue_reader():
    environ = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": KEY_SECRET,
        "ALIBABA_CLOUD_SECURITY_TOKEN": "CAIS-token",
        "VOD_MNS_ENDPOINT": "http://127.0.0.1:9",
        "VOD_MNS_QUEUE": QUEUE,
    }
    events = settings.events_from_env(environ)
    assert events.credentials.security_token == "CAIS-token"
    assert "CAIS-token" not in repr(events)
