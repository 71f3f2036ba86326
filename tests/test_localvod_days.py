"""The local VOD service's catalog over days: stickers that change, a clock that can be moved, and the events
VOD sends about them, delivered to an HTTP callback (over real HTTP) and to callable sinks."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from localvod import Catalog, Clock, LocalVodAccount, ServiceConfig, callback_lost
from localvod import account as account_module
from localvod.changes import ADDED, DELETED
from tests.conftest import KEY_ID, KEY_SECRET, make_client

START = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)  # midnight: the first day's changes come after it
DAY = dt.timedelta(days=1)


def changing_catalog(size: int = 2000, rate: float = 0.1, **options: object) -> Catalog:
    options = {"changes_from": START.date(), **options}
    return Catalog(size, clock=Clock(START), sticker_change_rate=rate, **options)  # type: ignore[arg-type]


def moment(unix_seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(unix_seconds, dt.UTC)


def changed_share(before: dict[str, list[str]], after: dict[str, list[str]]) -> float:
    return sum(before[v] != after[v] for v in after) / len(after)


# --- the truth over days -------------------------------------------------------------------------------------


def test_the_same_seed_says_the_same_truth_on_every_day_whatever_was_asked_before():
    first, second = changing_catalog(), changing_catalog()
    late = second.truth(START + 3 * DAY)  # this one lists three days at once, the other one day at a time
    truths = [first.truth(START + n * DAY) for n in range(4)]
    assert truths[3] == late
    assert [second.truth(START + n * DAY) for n in range(3)] == truths[:3]
    assert changing_catalog(seed=8).truth(START + 3 * DAY) != late  # another seed, another catalog
    assert truths[0] == Catalog(2000).truth(START)  # before the first change: the catalog of before


def test_each_day_about_the_change_rate_of_the_videos_change_and_a_quarter_of_the_changes_delete():
    catalog = changing_catalog(size=4000, rate=0.1)
    truths = [catalog.truth(START + n * DAY) for n in range(4)]
    for before, after in zip(truths, truths[1:], strict=False):
        assert 0.085 < changed_share(before, after) < 0.115
    # Of the changes of videos with a sticker to delete, a quarter delete one (sticker_delete_share's default).
    kinds, truth = Counter(), truths[0]
    for change in catalog.changes(START, START + 3 * DAY):
        if truth[change.video_id]:
            kinds[change.kind] += 1
        if change.kind == ADDED:
            truth[change.video_id].append(change.image_id)
        else:
            truth[change.video_id].remove(change.image_id)
    assert 0.22 < kinds[DELETED] / (kinds[DELETED] + kinds[ADDED]) < 0.28


def test_the_changes_listed_are_those_between_two_truths_each_at_its_own_second():
    catalog = changing_catalog(size=1000, rate=0.2)
    since, until = START + DAY + dt.timedelta(hours=7), START + 3 * DAY + dt.timedelta(hours=2)
    changes = catalog.changes(since, until)
    assert changes == sorted(changes, key=lambda c: (c.at, c.video_id))
    assert all(since.timestamp() < change.at <= until.timestamp() for change in changes)
    truth = catalog.truth(since)
    for change in changes:
        if change.kind == ADDED:
            assert change.image_id not in truth[change.video_id]
            truth[change.video_id].append(change.image_id)
        else:
            truth[change.video_id].remove(change.image_id)
    assert truth == catalog.truth(until)
    # Halves of the window list the same changes as the whole.
    middle = START + 2 * DAY + dt.timedelta(seconds=12_345)
    assert catalog.changes(since, middle) + catalog.changes(middle, until) == changes


def test_a_deletion_takes_one_of_the_stickers_the_video_has_then_and_a_video_without_any_gains_one():
    catalog = changing_catalog(size=1000, rate=0.3, sticker_delete_share=1.0)
    truth = catalog.truth(START)
    for change in catalog.changes(START, START + 2 * DAY):
        if truth[change.video_id]:
            assert change.kind == DELETED and change.image_id in truth[change.video_id]
            truth[change.video_id].remove(change.image_id)
        else:
            assert change.kind == ADDED
            truth[change.video_id].append(change.image_id)


def test_without_a_change_rate_the_catalog_never_changes():
    catalog = Catalog(300, clock=Clock(START))
    video_id = catalog.video_ids()[5]
    before = catalog.stickers(video_id, 0)
    catalog.clock.set(START + 30 * DAY)
    assert catalog.stickers(video_id, 0) == before
    assert catalog.changes(START, START + 30 * DAY) == []
    assert catalog.truth() == catalog.truth(START)


def test_changes_wait_for_their_first_day_and_a_new_video_for_its_first_stickers():
    catalog = changing_catalog(size=500, rate=0.5, changes_from=(START + 2 * DAY).date())
    assert catalog.truth(START + 2 * DAY) == catalog.truth(START)
    assert min(c.at for c in catalog.changes(START, START + 3 * DAY)) >= (START + 2 * DAY).timestamp()
    [new] = catalog.upload(1, at=START + 2 * DAY + dt.timedelta(hours=12))
    # A new video changes only once the stickers it is made with exist (6 hours).
    walk = [c for c in catalog.changes(START, START + 9 * DAY) if c.video_id == new]
    assert walk and min(c.at for c in walk) >= (START + 2 * DAY + dt.timedelta(hours=18)).timestamp()
    assert new not in catalog.truth(START + 2 * DAY) and new in catalog.truth(START + 3 * DAY)
    catalog.delete(new)
    assert all(c.video_id != new for c in catalog.changes(START, START + 9 * DAY))


def test_a_video_answers_its_truth_at_the_clock_and_its_new_stickers_are_made_at_their_change():
    catalog = changing_catalog(size=800, rate=0.2)
    catalog.clock.set(START + 2 * DAY)
    truth = catalog.truth()
    for video_id in catalog.video_ids():
        assert [item["DynamicImageId"] for item in catalog.stickers(video_id, 0)] == truth[video_id]
    change = next(c for c in catalog.changes(START, START + 2 * DAY) if c.kind == ADDED)
    [item] = [i for i in catalog.stickers(change.video_id, 0) if i["DynamicImageId"] == change.image_id]
    assert item == catalog.added_sticker(change, 0)
    assert item["CreationTime"] == moment(change.at).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert item["VideoId"] == change.video_id
    assert change.image_id not in {i["DynamicImageId"] for i in catalog.stickers(change.video_id, 0, at=moment(change.at - 1))}


def test_a_clock_never_goes_back():
    clock = Clock(START)
    clock.set(START + DAY)
    with pytest.raises(ValueError, match="never goes back"):
        clock.set(START)
    assert not Clock().simulated and Clock(START).now() == START


def test_list_dynamic_image_over_http_answers_the_truth_at_the_simulated_time(vod_service):
    service = vod_service(
        catalog_size=120, calls_per_second=None, clock_start=START.isoformat(), changes_from="2026-03-02", sticker_change_rate=0.3
    )
    video_ids = service.catalog.video_ids()
    with make_client(service) as client:
        for when in (START, START + DAY + dt.timedelta(hours=9), START + 3 * DAY):
            service.clock.set(when)
            truth = service.catalog.truth(when)
            assert {v: [i["DynamicImageId"] for i in client.list_dynamic_image(v).items] for v in video_ids} == truth
    assert changed_share(service.catalog.truth(START), truth) > 0.4  # three days of 30%: most changed


def test_the_days_options_are_checked():
    with pytest.raises(ValueError, match="sticker_change_rate"):
        ServiceConfig(sticker_change_rate=1.5)
    with pytest.raises(ValueError, match="callback_loss_rate"):
        ServiceConfig(callback_loss_rate=-0.1)
    assert ServiceConfig(changes_from="2026-03-02").changes_from == dt.date(2026, 3, 2)
    assert ServiceConfig(clock_start="2026-03-02T10:00:00Z").clock_start == START + dt.timedelta(hours=10)


# --- events -----------------------------------------------------------------------------------------------


class Receiver:
    """An HTTP callback receiver on loopback: records every request, answers ``status(n)`` to the n-th."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status: Callable[[int], int] = lambda n: 200
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    n = len(receiver.requests)
                    receiver.requests.append(
                        {"at": time.monotonic(), "path": self.path, "headers": dict(self.headers), "event": json.loads(body)}
                    )
                self.send_response(receiver.status(n))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/vod/events"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [request["event"] for request in self.requests]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def account() -> Iterator[Callable[..., LocalVodAccount]]:
    """Starts local accounts on a simulated clock at START, changes from START's day: ``account(**config)``."""
    started: list[LocalVodAccount] = []

    def start(regions: tuple[str, ...] = ("cn-shanghai",), **options: object) -> LocalVodAccount:
        config = {
            "access_key_id": KEY_ID,
            "access_key_secret": KEY_SECRET,
            "calls_per_second": None,
            "catalog_size": 150,
            "clock_start": START,
            "changes_from": START.date(),
            "sticker_change_rate": 0.2,
            "callback_retry_s": 0.1,
            **options,
        }
        local = LocalVodAccount(ServiceConfig(**config), regions).start()  # type: ignore[arg-type]
        started.append(local)
        return local

    yield start
    for local in started:
        local.stop()


def recorder(local: LocalVodAccount) -> list[dict[str, Any]]:
    """The events the account's sinks get from now on."""
    events: list[dict[str, Any]] = []
    local.add_sink(events.append)
    return events


def without_query(url: str) -> str:
    return url.split("?")[0]


@pytest.mark.server
def test_every_dynamic_image_complete_names_a_sticker_that_list_dynamic_image_then_returns(account, receiver):
    local = account(callback_url=receiver.url)
    events = recorder(local)
    service = local.services["cn-shanghai"]
    announced = local.advance_to(START + DAY, wait=True)
    added = [c for c in local.changes(START, START + DAY) if c.kind == ADDED]
    assert announced == len(added) == len(events) > 10
    assert [(e["VideoId"], e["EventTime"]) for e in events] == [(c.video_id, moment(c.at).strftime("%Y-%m-%dT%H:%M:%SZ")) for c in added]
    with make_client(service) as client:
        for event in events:
            assert set(event) == {"EventTime", "EventType", "VideoId", "Status", "JobId", "DynamicImageJobInfo"}
            assert (event["EventType"], event["Status"]) == ("DynamicImageComplete", "success")
            info = event["DynamicImageJobInfo"]
            assert set(info) == {"JobId", "Status", "FileURL", "FileSize", "Fps", "Height", "Width"}
            assert all(isinstance(value, str) for value in info.values())
            [item] = [i for i in client.list_dynamic_image(event["VideoId"]).items if i["JobId"] == event["JobId"]]
            assert info["JobId"] == item["JobId"] and without_query(info["FileURL"]) == without_query(item["FileURL"])
            assert [info[k] for k in ("FileSize", "Fps", "Height", "Width")] == [item[k] for k in ("FileSize", "Fps", "Height", "Width")]
            assert item["CreationTime"] == event["EventTime"]
    # The callback got the same events, unsigned without an auth key, and nothing was announced twice.
    assert sorted(map(json.dumps, receiver.events)) == sorted(map(json.dumps, events))
    assert all("X-VOD-SIGNATURE" not in r["headers"] for r in receiver.requests)
    assert local.advance_to(START + DAY, wait=True) == 0
    stats = local.event_stats
    assert stats["events_by_type"] == {"DynamicImageComplete": len(events)}
    assert stats["callbacks"] == {"delivered": len(events), "retried": 0, "dropped": 0, "lost": 0}
    assert local.stats["cn-shanghai"]["events"] == stats


@pytest.mark.server
def test_a_sticker_deletion_announces_nothing_and_the_sticker_leaves_list_dynamic_image(account):
    local = account(sticker_delete_share=1.0)
    events = recorder(local)
    service = local.services["cn-shanghai"]
    deleted = [c for c in local.changes(START, START + DAY) if c.kind == DELETED]
    assert deleted
    with make_client(service) as client:

        def listed(video_id: str) -> set[str]:
            return {item["DynamicImageId"] for item in client.list_dynamic_image(video_id).items}

        assert all(c.image_id in listed(c.video_id) for c in deleted)
        local.advance_to(START + DAY)
        assert all(c.image_id not in listed(c.video_id) for c in deleted)
    assert {e["VideoId"] for e in events}.isdisjoint(c.video_id for c in deleted)
    assert len(events) == sum(c.kind == ADDED for c in local.changes(START, START + DAY))  # videos without a sticker


@pytest.mark.server
def test_callbacks_are_signed_with_the_configured_url_verbatim(account, receiver):
    url = receiver.url + "?app=vod&token=a%2Fb"  # hashed as configured, query string included
    local = account(callback_url=url, callback_auth_key="Key4Callbacks")
    local.advance_to(START + DAY / 2, wait=True)
    assert receiver.requests
    for request in receiver.requests:
        headers = request["headers"]
        timestamp = headers["X-VOD-TIMESTAMP"]
        assert abs(int(timestamp) - time.time()) < 60  # the sender's wall time, whatever the simulated one
        assert headers["X-VOD-SIGNATURE"] == hashlib.md5(f"{url}|{timestamp}|Key4Callbacks".encode()).hexdigest()
        assert request["path"] == "/vod/events?app=vod&token=a%2Fb"
        assert headers["Content-Type"] == "application/json"


@pytest.mark.server
def test_a_callback_answered_500_is_tried_three_times_about_retry_s_apart_then_dropped(account, receiver):
    receiver.status = lambda n: 500
    local = account(callback_url=receiver.url, sticker_change_rate=0.0)
    events = recorder(local)
    [video_id] = local.upload("cn-shanghai")
    assert local.wait_for_deliveries(10)
    assert [r["event"] for r in receiver.requests] == events * 3
    times = [r["at"] for r in receiver.requests]
    assert all(0.09 < later - earlier < 1.0 for earlier, later in zip(times, times[1:], strict=False))
    assert local.event_stats["callbacks"] == {"delivered": 0, "retried": 2, "dropped": 1, "lost": 0}
    # A receiver that recovers gets it on the second attempt.
    receiver.status = lambda n: 500 if n == 3 else 200
    local.delete(video_id)
    assert local.wait_for_deliveries(10)
    assert [r["event"]["EventType"] for r in receiver.requests[3:]] == ["DeleteMediaComplete"] * 2
    assert local.event_stats["callbacks"] == {"delivered": 1, "retried": 3, "dropped": 1, "lost": 0}


@pytest.mark.server
def test_a_redirected_callback_is_not_delivered(account, receiver):
    receiver.status = lambda n: 302
    local = account(callback_url=receiver.url, sticker_change_rate=0.0)
    local.upload("cn-shanghai")
    assert local.wait_for_deliveries(10)
    assert len(receiver.requests) == 3 and local.event_stats["callbacks"]["dropped"] == 1


@pytest.mark.server
def test_lost_callbacks_are_a_seeded_share_never_sent_while_every_event_reaches_the_sinks(account, receiver):
    received = []
    for _ in range(2):
        local = account(callback_url=receiver.url, callback_loss_rate=0.3, sticker_change_rate=0.5, fault_seed=3)
        events = recorder(local)
        local.advance_to(START + DAY, wait=True)
        lost = [e for e in events if callback_lost(e, 3, 0.3)]
        keys = sorted((e["VideoId"], e["JobId"]) for e in receiver.events)
        assert keys == sorted((e["VideoId"], e["JobId"]) for e in events if e not in lost)
        assert 0.2 < len(lost) / len(events) < 0.4
        assert local.event_stats["callbacks"] == {"delivered": len(events) - len(lost), "retried": 0, "dropped": 0, "lost": len(lost)}
        received.append(keys)
        local.stop()
        receiver.requests.clear()
    assert received[0] == received[1]  # the same seed loses the same callbacks
    assert sum(callback_lost(e, 4, 0.3) != callback_lost(e, 3, 0.3) for e in events) > 0  # another seed, others


@pytest.mark.server
def test_upload_and_delete_announce_the_video(account, receiver):
    local = account(("cn-shanghai", "ap-southeast-1"), callback_url=receiver.url, sticker_change_rate=0.0)
    events = recorder(local)
    [new] = local.upload("ap-southeast-1")
    video = local.services["ap-southeast-1"].catalog.video(new)
    gone = local.services["cn-shanghai"].catalog.video_ids()[0]
    local.advance_to(START + dt.timedelta(hours=1))
    local.delete(gone)
    assert local.wait_for_deliveries(10)
    uploaded, deleted = events
    assert uploaded == {
        "EventTime": "2026-03-02T00:00:00Z",
        "EventType": "FileUploadComplete",
        "VideoId": new,
        "Size": video["Size"],
        "FileUrl": uploaded["FileUrl"],
        "Status": "success",
    }
    assert uploaded["FileUrl"].startswith(f"https://{video['StorageLocation']}/") and new in uploaded["FileUrl"]
    assert deleted == {
        "EventTime": "2026-03-02T01:00:00Z",
        "EventType": "DeleteMediaComplete",
        "MediaId": gone,
        "MediaType": "video",
        "DeleteType": "all",
        "Status": "success",
    }
    assert sorted(map(json.dumps, receiver.events)) == sorted(map(json.dumps, events))  # workers: any order
    assert local.stats["ap-southeast-1"]["events"]["events_by_type"] == {"FileUploadComplete": 1}
    assert local.stats["cn-shanghai"]["events"]["events_by_type"] == {"DeleteMediaComplete": 1}


@pytest.mark.server
def test_an_account_moves_every_region_at_once_and_announces_their_jobs_in_time_order(account, receiver):
    regions = ("cn-shanghai", "ap-southeast-1")
    local = account(regions, callback_url=receiver.url)
    events = recorder(local)
    local.advance_to(START + DAY, wait=True)
    truth = local.truth()
    assert set(truth) == set(regions)
    for region, service in local.services.items():
        assert truth[region] == service.catalog.truth(START + DAY) != service.catalog.truth(START)
        assert service.catalog.clock is local.clock
    assert [e["EventTime"] for e in events] == sorted(e["EventTime"] for e in events)
    owners = {v: region for region in regions for v in truth[region]}
    assert {owners[e["VideoId"]] for e in events} == set(regions)
    assert len(receiver.events) == len(events)
    assert sum(local.stats[r]["events"]["events"] for r in regions) == local.event_stats["events"] == len(events)


@pytest.mark.server
def test_on_the_wall_clock_a_ticker_announces_the_jobs_as_they_finish(monkeypatch):
    monkeypatch.setattr(account_module, "TICK_S", 0.05)
    began = time.monotonic()
    wall = Clock(wall=lambda: START + dt.timedelta(hours=(time.monotonic() - began) * 12))  # 12 hours a second
    config = ServiceConfig(catalog_size=200, calls_per_second=None, changes_from=START.date(), sticker_change_rate=0.2)
    events: list[dict[str, Any]] = []
    with LocalVodAccount(config, sinks=[events.append], clock=wall) as local:
        time.sleep(0.5)  # about 6 hours of the day
        first = len(events)
        time.sleep(0.5)
    stopped = wall.now()  # the ticker announced nothing after this
    assert 0 < first < len(events)  # they trickle in
    expected = [c for c in local.changes(START, stopped) if c.kind == ADDED]
    assert len(expected) - 5 <= len(events) <= len(expected)  # the last tick before the stop
    assert [e["JobId"] for e in events] == [
        local.services["cn-shanghai"].catalog.added_sticker(c, 0)["JobId"] for c in expected[: len(events)]
    ]
