"""The refresh plan: which videos a day's fetch asks VOD about, and why; every other video carries its last
answer into the day's snapshot.

A day asks about the videos whose stickers can have changed since their last answer:

- ``new``: no answer yet (a video just discovered, or first seen in ``videos.csv``);
- ``event``: VOD announced a change since the last plan (a sticker job finished, the video was uploaded or
  deleted), received in the events inbox;
- ``failed``: the last fetch of it failed;
- ``due``: its last answer is as old as its cadence allows (below), so it is asked now to keep that promise;
- ``sweep``: the oldest of the others, so that about 1/cadence of the videos are asked each day and the due
  ones never pile up. A sticker deleted upstream (which VOD announces by no event) is seen this way.

The cadence depends on what a video's last answer held. A sticker appears only through a dynamic-image job,
which VOD announces (``DynamicImageComplete``); what it never announces is a sticker deleted, and only a
video with stickers can lose one. So a video whose answer held stickers is asked every ``every_days`` days,
and one whose answer held none every ``quiet_days`` days while the account's events are arriving (a new
sticker of it comes with its event; a lost event delays it by ``quiet_days`` at most). When the events have
stopped (``events_state``: no ``DynamicImageComplete`` for ``SILENT_DAYS`` finished days while the sweeps
found new stickers that no event announced), or when no inbox is read, every video is swept every
``every_days`` days, the videos without stickers caught up over the next ``every_days`` days.

The plan is made once per day and kept (``plan.json``, ``plan.csv`` and the events it took, under raw/), so
a fetch that is interrupted resumes the same plan and a re-run of the day from its kept answers gives the
same snapshot. It builds on the latest earlier day whose fetch finished (the chain): that day's answer
file holds every video of its set, answered or carried, so one file tells each video's last answer.
``every_days=1`` asks every video every day (a full sweep).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.errors import ConfigurationError
from pipeline.events.inbox import Inbox, StoredEvent
from pipeline.store.files import atomic_write, durable, write_json
from pipeline.store.layout import Layout
from pipeline.store.objects import Location
from pipeline.store.raw import STATE, finished_days, read_state, read_summary, state_from_answers
from pipeline.store.videos import VideoSet, id_array
from pipeline.vod.outcome import CARRIED, FetchSummary, utc_now_iso

log = logging.getLogger(__name__)

REASONS = ("new", "event", "failed", "due", "sweep")
DEFAULT_EVERY_DAYS = 7
QUIET_FACTOR = 4  # VOD_REFRESH_QUIET_DAYS's default, times VOD_REFRESH_DAYS
SILENT_DAYS = 3  # finished days without a DynamicImageComplete, sweeps finding unannounced stickers: stopped

# What the plan knows of the account's events
ARRIVING = "arriving"  # DynamicImageComplete events arrive, or nothing says they should have
STOPPED = "stopped"  # none for SILENT_DAYS days while the sweeps found new stickers no event announced
NOT_READ = "not read"  # the plan reads no inbox

# What a plan did with an event it took
ASKED = "asked"
NOT_IN_SET = "not in the video set"
NO_STICKER_CHANGE = "no sticker change"


@dataclass(frozen=True)
class RefreshPolicy:
    """How often each video is asked at least (``every_days``; 1: every day; ``quiet_days`` for a video whose
    last answer held no sticker, while the account's events arrive; None: ``every_days``) and how many calls
    a day the plan may spend (``budget``; None: no cap). The budget never holds back a video that is new,
    announced, failed or due: it caps the sweep ahead of time only, and a day whose must-asks exceed it is
    logged."""

    every_days: int = DEFAULT_EVERY_DAYS
    budget: int | None = None
    per_region: bool = False  # the budget is each region's (regions with limits of their own), not the account's
    quiet_days: int | None = None

    def __post_init__(self) -> None:
        if self.every_days < 1:
            raise ConfigurationError(f"VOD_REFRESH_DAYS must be at least 1 (1 asks every video every day), got {self.every_days}")
        if self.quiet_days is not None and self.quiet_days < self.every_days:
            raise ConfigurationError(f"VOD_REFRESH_QUIET_DAYS must be at least VOD_REFRESH_DAYS ({self.every_days}), got {self.quiet_days}")
        if self.budget is not None and self.budget < 1:
            raise ConfigurationError(f"VOD_REFRESH_BUDGET must be at least 1 call a day, got {self.budget}")

    @property
    def bare_days(self) -> int:
        """The cadence of a video whose last answer held no sticker, while events arrive."""
        return self.quiet_days or self.every_days


@dataclass
class Plan:
    day: str
    previous_day: str | None  # the day whose answers the carried rows come from (None: the first day)
    every_days: int
    budget: int | None
    events_through: int  # the inbox's last sequence number this plan took
    made_at: str
    inbox_id: str | None = None  # which inbox (its sequence numbers are its own)
    run_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)  # asks by reason, and "carried"
    over_budget: int = 0  # must-asks beyond the budget (asked anyway)
    quiet_days: int | None = None  # the policy's cadence of videos without stickers
    events: str = NOT_READ  # what the plan knew of the account's events: ARRIVING, STOPPED or NOT_READ
    bare_days: int | None = None  # the cadence the plan gave videos without stickers (None: plans before it)
    stopped_since: str | None = None  # the first day of the plans that found the events stopped, this one's included
    sticker_events: int = 0  # DynamicImageComplete events (successful) this plan took
    asks: dict[str, str] = field(default_factory=dict, repr=False)  # video id -> reason, in the set's order
    last: pd.DataFrame | None = field(default=None, repr=False, compare=False)  # the previous day's state (not kept)

    @property
    def carried(self) -> int:
        return self.counts.get("carried", 0)

    def kept(self) -> dict[str, Any]:
        """What plan.json holds: everything but the asks (plan.csv) and the previous day's state."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("asks", "last")}


def plan_day(
    layout: Layout,
    day: dt.date,
    videos: VideoSet,
    policy: RefreshPolicy = RefreshPolicy(),
    *,
    inbox: Inbox | None = None,
    run_id: str | None = None,
) -> Plan:
    """The day's plan: the one kept if the day has one, else a new one (kept before it is returned). Its
    ``last`` is the state of the day it builds on (``last_answers``).

    A kept plan (a fetch of the day resumed or re-run) is extended, never redrawn: the videos the day's set
    gained since (taken again before a re-run) are asked, new or failed, and so are those of the events
    received since it was made. Videos that left the set are dropped from it."""
    previous = _previous_day(layout, day)
    last = last_answers(layout, previous) if previous else _no_answers()
    kept = read_plan(layout, day) if layout.plan(day).exists() else None
    earlier = read_plan(layout, previous, asks=False) if previous and layout.plan(previous).exists() else None
    if kept is not None:
        through, inbox_id = kept.events_through, kept.inbox_id
    elif earlier is not None:
        through, inbox_id = earlier.events_through, earlier.inbox_id
    else:
        through, inbox_id = 0, None
    events: list[StoredEvent] = []
    if inbox is not None:
        if through and (inbox_id not in (None, inbox.id) or inbox.last_seq() < through):
            log.warning(
                "%s: the events inbox %s is not the one the last plan read (it holds events up to %d, the plan "
                "took up to %d): every event it holds is taken. Keep one inbox per data directory "
                "(PIPELINE_DATA_DIR/events/inbox.sqlite, on local disk)",
                day,
                inbox.path,
                inbox.last_seq(),
                through,
            )
            through = 0
        events = inbox.since(through)
    members = id_array(videos.ids)
    announced, actions = _announced(events, members)
    sticker_events = sum(1 for event in events if event.event_type == "DynamicImageComplete" and _changes_stickers(event))
    if kept is not None:
        plan = kept
        plan.asks = _extend(kept.asks, members, last, announced)
        plan.sticker_events += sticker_events
        _write_events(layout.day_events(day), events, actions, append=True)
    else:
        state = events_state(layout, day) if inbox is not None else NOT_READ
        bare_days = policy.bare_days if state == ARRIVING else policy.every_days
        stopped_since = None
        if state == STOPPED:
            stopped_since = earlier.stopped_since if earlier is not None and earlier.stopped_since else day.isoformat()
        groups = pd.factorize(np.asarray(videos.regions, dtype=object))[0] if policy.per_region else np.zeros(len(members), np.int64)
        due = _bare_due(policy, (day - dt.date.fromisoformat(stopped_since)).days if stopped_since else None)
        asks, over = _choose(day, members, groups, last, announced, policy, bare_days, due)
        plan = Plan(
            day=day.isoformat(),
            previous_day=previous.isoformat() if previous else None,
            every_days=policy.every_days,
            budget=policy.budget,
            events_through=through,
            made_at=utc_now_iso(),
            run_id=run_id,
            over_budget=over,
            quiet_days=policy.quiet_days,
            events=state,
            bare_days=bare_days,
            stopped_since=stopped_since,
            sticker_events=sticker_events,
            asks=asks,
        )
        if over:
            log.warning(
                "%s: %d videos must be asked (new, announced, failed or due) beyond the budget of %d calls%s: all "
                "are asked; raise VOD_REFRESH_BUDGET or VOD_REFRESH_DAYS to stay within it",
                day,
                over,
                policy.budget,
                " a region" if policy.per_region else "",
            )
        if state == STOPPED:
            log.warning("%s: %s", day, events_stopped_message(layout, day))
        _write_events(layout.day_events(day), events, actions)
    if kept is not None and (kept.every_days, kept.budget, kept.quiet_days) != (policy.every_days, policy.budget, policy.quiet_days):
        log.warning(
            "%s: the day's plan was made with VOD_REFRESH_DAYS=%d, VOD_REFRESH_QUIET_DAYS=%s and a budget of %s calls; "
            "it is kept (only new videos and events are added), the settings now given apply from the next day",
            day,
            kept.every_days,
            kept.quiet_days,
            kept.budget,
        )
    plan.events_through = events[-1].seq if events else through
    plan.inbox_id = inbox.id if inbox is not None else inbox_id
    plan.counts = _counts(plan.asks, len(videos.ids))
    plan.last = last
    _write_asks(layout.plan_asks(day), plan.asks)
    write_json(layout.plan(day), plan.kept())
    return plan


def events_state(layout: Layout, day: dt.date) -> str:
    """STOPPED when the ``SILENT_DAYS`` finished days before ``day`` all have plans that took no
    ``DynamicImageComplete`` event while their sweeps found videos with stickers no event announced
    (``FetchSummary.unannounced``); ARRIVING otherwise (too few such days say nothing yet)."""
    window = _window(layout, day)
    if len(window) < SILENT_DAYS:
        return ARRIVING
    taken = sum(plan.sticker_events for plan, _ in window)
    unannounced = sum(summary.unannounced for _, summary in window)
    return STOPPED if taken == 0 and unannounced > 0 else ARRIVING


def events_stopped_message(layout: Layout, day: dt.date) -> str:
    """What an operator reads when the events have stopped: what was seen, the likely cause, the fallback."""
    window = _window(layout, day)
    days = ", ".join(plan.day for plan, _ in window)
    unannounced = sum(summary.unannounced for _, summary in window)
    return (
        f"no DynamicImageComplete event arrived for the plans of {days}, while their sweeps found {unannounced:,} videos "
        "with new stickers that no event announced. VOD is likely not sending this event type to the account's "
        "channels: check that the HTTP callback (VOD_CALLBACK_URL, vod-stickers events reachable) or the MNS queue "
        "(VOD_MNS_QUEUE) is configured in VOD for DynamicImageComplete. Until events arrive again, every video "
        "is swept every VOD_REFRESH_DAYS days"
    )


def _window(layout: Layout, day: dt.date) -> list[tuple[Plan, FetchSummary]]:
    """The last ``SILENT_DAYS`` finished days before ``day`` whose plans and fetches say what events they
    took and what their sweeps found (days fetched before plans did are left out)."""
    window: list[tuple[Plan, FetchSummary]] = []
    for earlier in reversed([d for d in finished_days(layout.base) if d < day]):
        if len(window) == SILENT_DAYS or not layout.plan(earlier).exists() or not layout.fetch_summary(earlier).exists():
            break
        plan, summary = read_plan(layout, earlier, asks=False), read_summary(layout.fetch_summary(earlier))
        if plan.bare_days is None:
            break
        window.append((plan, summary))
    return window


def _extend(asks: dict[str, str], members: pa.Array, last: pd.DataFrame, announced: np.ndarray) -> dict[str, str]:
    """A kept plan's asks over the day's set as it is now, in its order: those kept (of videos still in the
    set), then for the others new or failed ones and those announced since. Column by column, so resuming
    costs about what making the plan did."""
    reason = _reasons(asks, members)
    _must_asks(reason, _aligned(last[["status"]], members)["status"], announced)
    return _asked(reason, members)


def _reasons(asks: dict[str, str], members: pa.Array) -> np.ndarray:
    """Each video's reason to be asked (None: carried), in the set's order."""
    at = pc.index_in(members, value_set=id_array(list(asks)))
    return pc.take(pa.array(list(asks.values()), pa.string()), at).to_numpy(zero_copy_only=False)


def _must_asks(reason: np.ndarray, status: pa.ChunkedArray, announced: np.ndarray) -> None:
    """Gives the videos without a reason (None) the one they must be asked for, if any: ``new`` (no answer
    yet: ``status`` null), ``failed`` and ``event`` (``announced``)."""
    new = pc.is_null(status).to_numpy()
    failed = pc.fill_null(pc.equal(status, "failed"), False).to_numpy()
    for why, where in (("new", new), ("failed", failed), ("event", announced)):
        reason[where & pd.isna(reason)] = why


def _asked(reason: np.ndarray, members: pa.Array) -> dict[str, str]:
    """Video id -> reason of the videos with one, in the set's order."""
    at = np.flatnonzero(pd.notna(reason))
    return dict(zip(members.take(pa.array(at)).to_pylist(), reason[at].tolist(), strict=True))


def _aligned(frame: pd.DataFrame, members: pa.Array) -> pa.Table:
    """``frame``'s rows (indexed by video id) for each of ``members``, in their order; nulls for a video it
    has no row of. Matched and taken in Arrow: no copy through pandas indexes of Python strings."""
    at = pc.index_in(members, value_set=id_array(frame.index))
    return pa.table({name: pa.array(frame[name].array) for name in frame.columns}).take(at)  # the columns' Arrow data, not copied


def _counts(asks: dict[str, str], videos: int) -> dict[str, int]:
    counts = {reason: 0 for reason in REASONS} | pd.Series(list(asks.values()), dtype="str").value_counts().to_dict()
    return counts | {"carried": videos - len(asks)}


def read_plan(layout: Layout, day: dt.date, *, asks: bool = True) -> Plan:
    """The day's kept plan, with its asks (``asks``: read plan.csv too)."""
    plan = Plan(**json.loads(layout.plan(day).read_text(encoding="utf-8")))
    if asks and layout.plan_asks(day).exists():
        kept = _read_asks(layout.plan_asks(day))
        plan.asks = dict(zip(kept["video_id"], kept["reason"], strict=True))
    return plan


def _read_asks(path: Location) -> pd.DataFrame:
    with path.open("rb") as source:
        return pd.read_csv(source, dtype="str", keep_default_na=False)


def _previous_day(layout: Layout, day: dt.date) -> dt.date | None:
    """The latest day before ``day`` whose fetch finished: the link of the chain the day builds on."""
    earlier = [d for d in finished_days(layout.base) if d < day]
    return earlier[-1] if earlier else None


def last_answers(layout: Layout, day: dt.date) -> pd.DataFrame:
    """Each video of a finished day, by id: its status that day (answered, not_found, failed or carried),
    the outcome of the answer it holds (``answer``), the day that answer was made (``answered_on``; NaT when
    it failed) and the stickers in it. From the day's state, or for a day kept before states, its answers."""
    if layout.day_state(day).exists():
        return read_state(layout.day_state(day))
    return state_from_answers(layout.answers(day), day)


def _no_answers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region": pd.Series(dtype="str"),
            "status": pd.Series(dtype="str"),
            "answer": pd.Series(dtype="str"),
            "answered_on": pd.Series(dtype="datetime64[ns]"),
            "stickers": pd.Series(dtype="int32"),
        },
        index=pd.Index([], name="video_id", dtype="str"),
    )


def day_state(day: dt.date, videos: VideoSet, plan: Plan, asked: pd.DataFrame) -> tuple[pa.Table, int]:
    """The state after the day's fetch (``raw.STATE``'s table, in the set's order): the asked videos' outcomes
    (``asked``: video_id, status, stickers), the last state of the others, carried. And how many videos a
    sweep (or a due ask) found with more stickers than their last answer held, which no event announced:
    what tells that the account's events have stopped. Column by column in Arrow: no copy of the last state."""
    members = id_array(videos.ids)
    last = _aligned((plan.last if plan.last is not None else _no_answers())[["answer", "answered_on", "stickers"]], members)
    outcomes = asked.drop_duplicates("video_id", keep="last").astype({"video_id": "str", "status": "str", "stickers": "int64"})
    now = _aligned(outcomes.set_index("video_id")[["status", "stickers"]], members)  # typed when empty too
    now_status = now["status"].cast(pa.string())
    reason = _reasons(plan.asks, members)
    is_asked = pa.array(pd.notna(reason))
    failed = pc.fill_null(pc.equal(now_status, "failed"), False)
    held_stickers = pc.fill_null(last["stickers"].cast(pa.int64()), 0)
    stickers = pc.if_else(is_asked, pc.fill_null(now["stickers"], 0), held_stickers)
    answered_on = pc.if_else(failed, pa.scalar(None, pa.date32()), pa.scalar(day, pa.date32()))
    last_answer = last["answer"].cast(pa.string())
    state = pa.table(
        {
            "video_id": members.cast(pa.string()),
            "region": pa.array(videos.regions, pa.string()),
            "status": pc.if_else(is_asked, now_status, CARRIED),
            "answer": pc.if_else(is_asked, pc.if_else(failed, pa.scalar(None, pa.string()), now_status), last_answer),
            "answered_on": pc.if_else(is_asked, answered_on, last["answered_on"].cast(pa.date32())),
            "stickers": stickers.cast(pa.int32()),
        },
        schema=STATE,
    )
    swept = is_asked.to_numpy(zero_copy_only=False) & np.isin(reason, ["sweep", "due"])
    gained = (
        swept
        & pc.fill_null(pc.equal(now_status, "answered"), False).to_numpy(zero_copy_only=False)
        & pc.is_valid(last_answer).to_numpy(zero_copy_only=False)
        & (stickers.to_numpy() > held_stickers.to_numpy())
    )
    return state, int(gained.sum())


def _announced(events: list[StoredEvent], members: pa.Array) -> tuple[np.ndarray, list[str]]:
    """Which videos of the set (in its order) events say can have changed, and what the plan does with each
    event."""
    changing = [_changes_stickers(event) for event in events]
    ids = id_array([event.video_id for event in events])
    inside = pc.is_in(ids, value_set=members).to_numpy(zero_copy_only=False)
    actions = [(ASKED if there else NOT_IN_SET) if changes else NO_STICKER_CHANGE for changes, there in zip(changing, inside, strict=True)]
    announced = ids.filter(pa.array(np.asarray(changing, dtype=bool) & inside))
    return pc.is_in(members, value_set=announced).to_numpy(zero_copy_only=False), actions


def _changes_stickers(event: StoredEvent) -> bool:
    """Whether the event can mean a different ListDynamicImage answer: a sticker job that succeeded (Status
    compared without regard to case), a video uploaded, or a video deleted whole."""
    status = (event.status or "success").lower()
    if event.event_type == "DynamicImageComplete":
        return status == "success"
    if event.event_type == "FileUploadComplete":
        return True
    if event.event_type == "DeleteMediaComplete":
        body = event.body
        return str(body.get("DeleteType", "all")).lower() == "all" and str(body.get("MediaType", "video")).lower() == "video"
    return False


def _bare_due(policy: RefreshPolicy, stopped_for: int | None) -> int:
    """The age at which a video whose answer held no sticker is due: ``policy.bare_days`` while events arrive;
    when they stopped ``stopped_for`` days ago, lowered day by day to ``every_days``, which it reaches after
    ``every_days`` days: the videos without stickers are caught up over those days, not all on the first."""
    if stopped_for is None:
        return policy.bare_days
    step = math.ceil(stopped_for * (policy.bare_days - policy.every_days) / policy.every_days)
    return max(policy.every_days, policy.bare_days - step)


def _choose(
    day: dt.date,
    members: pa.Array,
    groups: np.ndarray,
    last: pd.DataFrame,
    announced: np.ndarray,
    policy: RefreshPolicy,
    bare_days: int,
    bare_due: int,
) -> tuple[dict[str, str], int]:
    """Video id -> reason for the videos to ask, in the set's order; and how many must-asks exceed the budget.
    The sweep and the budget are counted within each of ``groups`` (a code per video: one per region with
    budgets per region; one for the whole account otherwise): videos whose answer held stickers have a sweep
    of their own, every ``every_days`` days, served first; those whose answer held none are swept every
    ``bare_days`` days and are due after ``bare_due`` days (``_bare_due``)."""
    known = _aligned(last[["status", "answered_on", "stickers"]], members)
    age = (np.datetime64(day, "ns") - known["answered_on"].to_numpy()) / np.timedelta64(1, "D")  # NaN: no answer held
    bare = pc.equal(pc.fill_null(known["stickers"], 1), 0).to_numpy()
    reason = np.full(len(members), None, dtype=object)
    _must_asks(reason, known["status"], announced)
    due = pd.isna(reason) & (age >= np.where(bare, bare_due, policy.every_days))
    reason[due] = "due"
    # The rolling sweeps: about 1/cadence of the videos with an answer each day, the oldest answers first,
    # then in the order of their ids (so that a day of equal answers is taken in turn).
    over = 0
    for group in np.unique(groups):
        mine = groups == group
        must = int((mine & pd.notna(reason)).sum())
        room = None if policy.budget is None else policy.budget - must
        if policy.budget is not None:
            over += max(0, must - policy.budget)
        for kind, every in ((~bare, policy.every_days), (bare, bare_days)):
            cohort = mine & kind & ~np.isnan(age)
            sweep_room = math.ceil(int(cohort.sum()) / every) - int((cohort & due).sum())
            if room is not None:
                sweep_room = min(sweep_room, room)
            if sweep_room > 0:
                chosen = _oldest(age, members, cohort & pd.isna(reason), sweep_room)
                reason[chosen] = "sweep"
                if room is not None:
                    room -= len(chosen)
    return _asked(reason, members), over


def _oldest(age: np.ndarray, members: pa.Array, candidates: np.ndarray, count: int) -> np.ndarray:
    """The places of the ``count`` candidates whose answers are oldest; among answers of the same age, those
    of the first ids in sort order."""
    at = np.flatnonzero(candidates)
    if len(at) <= count:
        return at
    ages = age[at]
    cut = np.partition(ages, len(at) - count)[len(at) - count]  # the age of the youngest taken
    older, tied = at[ages > cut], at[ages == cut]
    first = pc.sort_indices(members.take(pa.array(tied))).to_numpy()[: count - len(older)]
    return np.concatenate([older, tied[first]])


def _write_asks(path: Location, asks: dict[str, str]) -> None:
    frame = pd.DataFrame({"video_id": list(asks), "reason": list(asks.values())})
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as out:
        frame.to_csv(out, index=False)
        durable(out)


def _write_events(path: Location, events: list[StoredEvent], actions: list[str], *, append: bool = False) -> None:
    """The events the plan took, each with what it did, as JSON lines (the raw record of the events table);
    ``append``: after those a kept plan took before."""
    before = path.read_bytes() if append and path.exists() else b""
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as out:
        out.write(before.decode("utf-8"))
        for event, action in zip(events, actions, strict=True):
            record: dict[str, Any] = {**asdict(event), "action": action}
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        durable(out)
