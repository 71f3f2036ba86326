"""VOD's events through an MNS queue: the local MNS stand-in, spoken to by the official SDK over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.queue import Message, Queue, QueueMeta

from pipeline.vod.local import LocalMnsService, MnsQueueSink
from tests.conftest import KEY_ID, KEY_SECRET

QUEUE = "vod-events"
VISIBILITY_S = 0.5
LONG_POLL_SCALE = 0.1  # a long poll of 1 s lasts 0.1 s on an empty queue


@pytest.fixture
def mns() -> Iterator[LocalMnsService]:
    with LocalMnsService((QUEUE,), access_key_id=KEY_ID, access_key_secret=KEY_SECRET,
                         visibility_timeout=VISIBILITY_S, long_poll_scale=LONG_POLL_SCALE) as service:
        yield service


def sdk_queue(service: LocalMnsService, *, key_id: str = KEY_ID, secret: str = KEY_SECRET) -> Queue:
    queue = Account(service.endpoint, key_id, secret).get_queue(QUEUE)
    queue.set_encoding(False)
    return queue


def vod_event(video_id: str, event_type: str = "FileUploadComplete", **fields: Any) -> dict[str, Any]:
    return {"EventType": event_type, "EventTime": "2026-03-20T07:49:17Z", "VideoId": video_id, "Status": "success",
            **fields}


# --- the stand-in, as the SDK sees it ------------------------------------------------------------------------


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


def test_a_long_poll_gets_the_message_sent_while_it_waits(mns):
    queue = sdk_queue(mns)
    sender = threading.Timer(0.2, lambda: sdk_queue(mns).send_message(Message('{"EventType":"FileUploadComplete"}')))
    sender.start()
    [message] = queue.batch_receive_message(16, wait_seconds=10)
    sender.join()
    assert message.message_body == '{"EventType":"FileUploadComplete"}'


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
def test_a_wrong_secret_or_key_is_refused_with_the_error_the_sdk_raises(mns, key_id, secret, code):
    with pytest.raises(MNSServerException) as refused:
        sdk_queue(mns, key_id=key_id, secret=secret).send_message(Message('{"EventType":"FileUploadComplete"}'))
    assert refused.value.type == code
    assert refused.value.req_id  # MNS's x-mns-request-id, for a ticket
    assert mns.messages(QUEUE) == [] and mns.stats["auth_errors"] == 1


def test_the_sink_sends_each_event_as_one_message_of_its_json_or_of_base64_of_it(mns):
    event = vod_event("v1", Title="贴纸")
    MnsQueueSink(mns.endpoint, QUEUE, KEY_ID, KEY_SECRET)(event)
    MnsQueueSink(mns.endpoint, QUEUE, KEY_ID, KEY_SECRET, base64_bodies=True)(event)
    raw, encoded = mns.messages(QUEUE)
    assert json.loads(raw.body) == event
    assert json.loads(base64.b64decode(encoded.body)) == event


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK's own, on attributes MNS is retiring
def test_queues_can_be_created_and_read_through_the_sdk(mns):
    other = Account(mns.endpoint, KEY_ID, KEY_SECRET).get_queue("vod-events-eu")
    assert other.create(QueueMeta(vis_timeout=45)) == f"{mns.endpoint}/queues/vod-events-eu"
    assert other.get_attributes().visibility_timeout == 45
    assert sdk_queue(mns).get_attributes().visibility_timeout == 1  # 0.5 s, shown in whole seconds as MNS does
