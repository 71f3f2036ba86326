"""The local VOD service's catalog over days: stickers that change, a clock that can be moved, and the events
VOD sends about them, delivered to an HTTP callback (over real HTTP) and to callable sinks."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from pipeline.vod.local import Catalog, Clock, ServiceConfig
from pipeline.vod.local.changes import ADDED, DELETED
from tests.conftest import make_client

START = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)  # midnight: the first day's changes come after it
DAY = dt.timedelta(days=1)


def changing_catalog(size: int = 2000, rate: float = 0.1, **options: object) -> Catalog:
    options = {"changes_from": START.date(), **options}
    return Catalog(size, clock=Clock(START), sticker_change_rate=rate, **options)  # type: ignore[arg-type]


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
    for before, after in zip(truths, truths[1:]):
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
    assert item["CreationTime"] == dt.datetime.fromtimestamp(change.at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert item["VideoId"] == change.video_id
    assert change.image_id not in {i["DynamicImageId"] for i in catalog.stickers(change.video_id, 0, at=change.at - 1)}


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
    assert ServiceConfig(changes_from="2026-03-02").changes_from == dt.date(2026, 3, 2)
    assert ServiceConfig(clock_start="2026-03-02T10:00:00Z").clock_start == START + dt.timedelta(hours=10)
