"""VOD's HTTP callbacks: authenticated, durable before they are acknowledged, kept once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import duckdb
import pyarrow.parquet as pq
import pytest
import requests

from pipeline.events.callbacks import CallbackAuth, CallbackReceiver, callback_signature
from pipeline.events.inbox import Inbox

pytestmark = pytest.mark.server

URL = "https://events.example.com/vod?app=stickers"  # as configured in VOD: hashed verbatim, query included
KEY = "AuthKey0rotation1"
OLD_KEY = "AuthKeyOfLastYear9"


def event(n: int = 1, **fields: str) -> dict[str, str]:
    return {
        "EventType": "DynamicImageComplete",
        "EventTime": f"2026-11-30T10:00:{n % 60:02d}Z",
        "VideoId": f"video{n:04d}",
        "Status": "success",
        "JobId": f"job{n:06d}",
        **fields,
    }


def post(receiver: CallbackReceiver, body: dict | bytes, *, key: str | None = KEY, timestamp: int | None = None) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if key is not None:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        headers |= {"X-VOD-TIMESTAMP": stamp, "X-VOD-SIGNATURE": callback_signature(URL, stamp, key)}
    return requests.post(receiver.endpoint + "/vod?app=stickers", data=data, headers=headers, timeout=5)


def test_a_signed_callback_is_kept_once_however_often_vod_sends_it(tmp_path):
    with Inbox(tmp_path / "inbox.sqlite") as inbox, CallbackReceiver(inbox, auth=CallbackAuth(URL, (KEY,))) as receiver:
        for _ in range(3):  # VOD's retries of one callback
            assert post(receiver, event(1)).status_code == 200
        # The same event with Status in the newer spelling is the same event
        assert post(receiver, event(1, Status="success")).status_code == 200
        kept = inbox.since(0)
    assert [e.video_id for e in kept] == ["video0001"]
    assert kept[0].channel == "http" and kept[0].body["JobId"] == "job000001"


def test_a_bad_or_stale_signature_is_refused_logged_and_never_stored(tmp_path, caplog):
    with Inbox(tmp_path / "inbox.sqlite") as inbox, CallbackReceiver(inbox, auth=CallbackAuth(URL, (KEY,))) as receiver:
        assert post(receiver, event(1), key="not-the-key").status_code == 403
        assert post(receiver, event(2), timestamp=int(time.time()) - 3600).status_code == 403
        assert post(receiver, event(3), key=None).status_code == 403
        assert len(inbox) == 0 and inbox.rejected() == []
    assert caplog.text.count("Refused a callback") == 3
    assert "stale" in caplog.text and "no X-VOD-TIMESTAMP" in caplog.text
    assert KEY not in caplog.text


def test_during_a_key_rotation_both_keys_are_accepted(tmp_path):
    with Inbox(tmp_path / "inbox.sqlite") as inbox, CallbackReceiver(inbox, auth=CallbackAuth(URL, (KEY, OLD_KEY))) as receiver:
        assert post(receiver, event(1), key=OLD_KEY).status_code == 200
        assert post(receiver, event(2), key=KEY).status_code == 200
        assert len(inbox) == 2


def test_without_keys_callbacks_are_taken_unauthenticated(tmp_path):
    with Inbox(tmp_path / "inbox.sqlite") as inbox, CallbackReceiver(inbox) as receiver:
        assert post(receiver, event(1), key=None).status_code == 200
        assert len(inbox) == 1


def test_a_body_that_is_not_an_event_is_kept_among_the_rejected_with_its_reason(tmp_path):
    with Inbox(tmp_path / "inbox.sqlite") as inbox, CallbackReceiver(inbox, auth=CallbackAuth(URL, (KEY,))) as receiver:
        answer = post(receiver, b"<xml>not json</xml>")
        assert answer.status_code == 400 and "Not a VOD event" in answer.text
        assert post(receiver, {"VideoId": "x"}).status_code == 400  # no EventType
        rejected = inbox.rejected()
    assert [(r[1], r[2]) for r in rejected] == [("http", "not JSON, nor base64 of JSON"), ("http", "no EventType")]
    assert rejected[0][3] == b"<xml>not json</xml>"


class _FullDisk(Inbox):
    def add(self, event, **kwargs):  # type: ignore[override]
        raise OSError(28, "No space left on device")


def test_a_callback_that_cannot_be_made_durable_is_not_acknowledged(tmp_path):
    with _FullDisk(tmp_path / "inbox.sqlite") as inbox, CallbackReceiver(inbox, auth=CallbackAuth(URL, (KEY,))) as receiver:
        assert post(receiver, event(1)).status_code == 500  # so VOD tries again
        assert receiver.stats["failed"] == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_acknowledged_callback_survives_the_receiver_being_killed(tmp_path):
    """SIGKILL the receiver while callbacks pour in: each one it answered 200 is in the inbox."""
    port = _free_port()
    env = {
        **os.environ,
        "PIPELINE_DATA_DIR": str(tmp_path / "data"),
        "VOD_CALLBACK_URL": URL,
        "VOD_CALLBACK_KEYS": KEY,
        "VOD_EVENTS_PORT": str(port),
    }
    receiver = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "events", "--host", "127.0.0.1"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert "Receiving VOD's callbacks" in receiver.stdout.readline()
        endpoint = f"http://127.0.0.1:{port}"
        acknowledged: list[str] = []
        lock = threading.Lock()

        def send(n: int) -> None:
            stamp = str(int(time.time()))
            headers = {"X-VOD-TIMESTAMP": stamp, "X-VOD-SIGNATURE": callback_signature(URL, stamp, KEY)}
            try:
                answer = requests.post(endpoint + "/vod", data=json.dumps(event(n)), headers=headers, timeout=5)
            except requests.RequestException:
                return  # killed before it answered: VOD would try again
            if answer.status_code == 200:
                with lock:
                    acknowledged.append(f"video{n:04d}")
                    if len(acknowledged) == 150:
                        receiver.send_signal(signal.SIGKILL)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(send, range(1000)))
        receiver.wait(timeout=10)
    finally:
        receiver.kill()
    assert 150 <= len(acknowledged) < 1000  # killed mid-stream
    with Inbox(tmp_path / "data" / "events" / "inbox.sqlite") as inbox:
        kept = {e.video_id for e in inbox.since(0)}
    assert set(acknowledged) <= kept


def test_callback_keys_without_the_url_stop_the_receiver_naming_what_to_set(tmp_path):
    env = {**os.environ, "PIPELINE_DATA_DIR": str(tmp_path / "data"), "VOD_CALLBACK_KEYS": KEY}
    env.pop("VOD_CALLBACK_URL", None)
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "events"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("vod-stickers: VOD_CALLBACK_KEYS is set but VOD_CALLBACK_URL is not")
    assert KEY not in done.stderr


URL_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"  # a FileURL's auth_key digest: a short-lived secret


def test_the_callback_key_and_signed_urls_reach_no_log_inbox_lake_or_warehouse(tmp_path, service):
    from pipeline import snapshot
    from pipeline.publish import warehouse
    from pipeline.store.layout import Layout
    from tests.conftest import make_client, write_videos

    key = "CallbackKEY7Hq2Zp"
    port = _free_port()
    env = {
        **os.environ,
        "PIPELINE_DATA_DIR": str(tmp_path / "data"),
        "VOD_CALLBACK_URL": URL,
        "VOD_CALLBACK_KEYS": f"{key},Old{key}",
        "VOD_EVENTS_PORT": str(port),
    }
    receiver = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "events", "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    videos = service.catalog.video_ids()
    try:
        assert "Receiving VOD's callbacks" in receiver.stdout.readline()
        signed_url = f"https://cdn.example.com/{videos[0]}/a.gif?auth_key=1764460800-nonce-0-{URL_TOKEN}"
        bodies = [
            json.dumps(event(0, VideoId=videos[0], DynamicImageJobInfo={"FileURL": signed_url, "Status": "success"})),
            json.dumps(event(1, VideoId=videos[1], DynamicImageJobInfo=json.dumps({"FileURL": signed_url}))),  # as a JSON string
            json.dumps(event(2, VideoId=videos[2])),
            f"not an event, but a signed URL: {signed_url}",  # kept among the rejected
        ]
        for body, signing_key in zip(bodies, (key, f"Old{key}", "wrong", key), strict=True):
            stamp = str(int(time.time()))
            headers = {"X-VOD-TIMESTAMP": stamp, "X-VOD-SIGNATURE": callback_signature(URL, stamp, signing_key)}
            requests.post(f"http://127.0.0.1:{port}/vod", data=body, headers=headers, timeout=5)
    finally:
        receiver.send_signal(signal.SIGTERM)
        out, err = receiver.communicate(timeout=30)
    assert "Refused a callback" in err
    layout = Layout(tmp_path / "data")
    write_videos(service, layout.videos_csv)
    day = snapshot.utc_today()
    snapshot.take_video_set(layout, day)
    with Inbox(layout.events_inbox) as inbox:
        snapshot.fetch_day(layout, day, make_client(service), inbox=inbox)
    snapshot.normalize_day(layout, day)
    warehouse.publish(layout)
    places = {"receiver output": out + err}
    for path in layout.root.rglob("*"):
        if path.suffix == ".parquet":  # compressed: read as tables
            places[str(path)] = json.dumps(pq.read_table(path).to_pylist(), default=str)
        elif path.is_file() and path != layout.warehouse:
            places[str(path)] = path.read_bytes().decode("utf-8", "replace")
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            places[f"warehouse {name}"] = json.dumps(con.execute(f'SELECT * FROM "{name}"').fetchall(), default=str)
    assert "video0000" in places["warehouse events"] or videos[0] in places["warehouse events"]
    with Inbox(layout.events_inbox) as inbox:
        assert len(inbox) == 2 and len(inbox.rejected()) == 1  # the events were kept, without the token
    assert [place for place, text in places.items() if key in text or URL_TOKEN in text] == []
