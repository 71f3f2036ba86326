"""The refresh plan: which videos a day's fetch asks VOD about, and why; every other video carries its last
answer into the day's snapshot.

A day asks about the videos whose stickers can have changed since their last answer:

- ``new``: no answer yet (a video just discovered, or first seen in ``videos.csv``);
- ``event``: VOD announced a change since the last plan (a sticker job finished, the video was uploaded or
  deleted), received in the events inbox;
- ``failed``: the last fetch of it failed;
- ``due``: its last answer is ``every_days`` days old or more, so it is asked now to keep the promise that
  no row of a snapshot is older than that;
- ``sweep``: the oldest of the others, so that about 1/``every_days`` of the videos are asked each day and
  the due ones never pile up. A sticker deleted upstream (which VOD announces by no event) is seen this way.

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
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.json as pj

from pipeline.errors import ConfigurationError
from pipeline.events.inbox import Inbox, StoredEvent
from pipeline.store.files import atomic_write, durable, write_json
from pipeline.store.layout import Layout
from pipeline.store.objects import Location
from pipeline.store.raw import finished_days
from pipeline.store.videos import VideoSet
from pipeline.vod.outcome import utc_now_iso

log = logging.getLogger(__name__)

REASONS = ("new", "event", "failed", "due", "sweep")
DEFAULT_EVERY_DAYS = 7

# What a plan did with an event it took
ASKED = "asked"
NOT_IN_SET = "not in the video set"
NO_STICKER_CHANGE = "no sticker change"


@dataclass(frozen=True)
class RefreshPolicy:
    """How often each video is asked at least (``every_days``; 1: every day) and how many calls a day the
    plan may spend (``budget``; None: no cap). The budget never holds back a video that is new, announced,
    failed or due: it caps the sweep ahead of time only, and a day whose must-asks exceed it is logged."""

    every_days: int = DEFAULT_EVERY_DAYS
    budget: int | None = None
    per_region: bool = False  # the budget is each region's (regions with limits of their own), not the account's

    def __post_init__(self) -> None:
        if self.every_days < 1:
            raise ConfigurationError(f"VOD_REFRESH_DAYS must be at least 1 (1 asks every video every day), got {self.every_days}")
        if self.budget is not None and self.budget < 1:
            raise ConfigurationError(f"VOD_REFRESH_BUDGET must be at least 1 call a day, got {self.budget}")


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
    asks: dict[str, str] = field(default_factory=dict, repr=False)  # video id -> reason, in the set's order

    @property
    def carried(self) -> int:
        return self.counts.get("carried", 0)


def plan_day(
    layout: Layout,
    day: dt.date,
    videos: VideoSet,
    policy: RefreshPolicy = RefreshPolicy(),
    *,
    inbox: Inbox | None = None,
    run_id: str | None = None,
) -> Plan:
    """The day's plan: the one kept if the day has one, else a new one (kept before it is returned).

    A kept plan (a fetch of the day resumed or re-run) is extended, never redrawn: the videos the day's set
    gained since (taken again before a re-run) are asked, new or failed, and so are those of the events
    received since it was made. Videos that left the set are dropped from it."""
    previous = _previous_day(layout, day)
    last = last_answers(layout.answers(previous), previous) if previous else _no_answers()
    kept = read_plan(layout, day) if layout.plan(day).exists() else None
    if kept is not None:
        through, inbox_id = kept.events_through, kept.inbox_id
    elif previous and layout.plan(previous).exists():
        earlier = read_plan(layout, previous)
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
    members = pd.Series(videos.ids, dtype="str")
    announced, actions = _announced(events, set(videos.ids))
    if kept is not None:
        plan = kept
        plan.asks = _extend(kept.asks, members, last, announced)
        _write_events(layout.day_events(day), events, actions, append=True)
    else:
        groups = pd.Series(videos.regions if policy.per_region else ["account"] * len(videos.ids), dtype="str")
        asks, over = _choose(day, members, groups, last, announced, policy)
        plan = Plan(
            day=day.isoformat(),
            previous_day=previous.isoformat() if previous else None,
            every_days=policy.every_days,
            budget=policy.budget,
            events_through=through,
            made_at=utc_now_iso(),
            run_id=run_id,
            over_budget=over,
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
        _write_events(layout.day_events(day), events, actions)
    if kept is not None and (kept.every_days, kept.budget) != (policy.every_days, policy.budget):
        log.warning(
            "%s: the day's plan was made with VOD_REFRESH_DAYS=%d and a budget of %s calls; it is kept (only new "
            "videos and events are added), the settings now given apply from the next day",
            day,
            kept.every_days,
            kept.budget,
        )
    plan.events_through = events[-1].seq if events else through
    plan.inbox_id = inbox.id if inbox is not None else inbox_id
    plan.counts = _counts(plan.asks, len(videos.ids))
    _write_asks(layout.plan_asks(day), plan.asks)
    write_json(layout.plan(day), {k: v for k, v in asdict(plan).items() if k != "asks"})
    return plan


def _extend(asks: dict[str, str], members: pd.Series, last: pd.DataFrame, announced: set[str]) -> dict[str, str]:
    """A kept plan's asks over the day's set as it is now, in its order: those kept (of videos still in the
    set), then for the others new or failed ones and those announced since. Column by column, so resuming
    costs about what making the plan did."""
    index = members.to_numpy()
    reason = pd.Series(asks, dtype="object").reindex(index)
    status = last["status"].reindex(index).to_numpy()
    open_ = reason.isna().to_numpy()
    reason[open_ & pd.isna(status)] = "new"
    reason[open_ & (status == "failed")] = "failed"
    reason[reason.isna().to_numpy() & members.isin(announced).to_numpy()] = "event"
    asked = reason.dropna()
    return dict(zip(asked.index, asked.to_numpy(), strict=True))


def _counts(asks: dict[str, str], videos: int) -> dict[str, int]:
    counts = {reason: 0 for reason in REASONS} | pd.Series(list(asks.values()), dtype="str").value_counts().to_dict()
    return counts | {"carried": videos - len(asks)}


def read_plan(layout: Layout, day: dt.date) -> Plan:
    fields = json.loads(layout.plan(day).read_text(encoding="utf-8"))
    asks = _read_asks(layout.plan_asks(day)) if layout.plan_asks(day).exists() else None
    plan = Plan(**fields)
    if asks is not None:
        plan.asks = dict(zip(asks["video_id"], asks["reason"], strict=True))
    return plan


def _read_asks(path: Location) -> pd.DataFrame:
    with path.open("rb") as source:
        return pd.read_csv(source, dtype="str", keep_default_na=False)


def _previous_day(layout: Layout, day: dt.date) -> dt.date | None:
    """The latest day before ``day`` whose fetch finished: the link of the chain the day builds on."""
    earlier = [d for d in finished_days(layout.base) if d < day]
    return earlier[-1] if earlier else None


_LAST = pa.schema([("video_id", pa.string()), ("status", pa.string()), ("carried_from", pa.string())])


def last_answers(answers: Location, day: dt.date) -> pd.DataFrame:
    """Each video of a finished day's answer file: its status that day (answered, not_found, failed or
    carried) and the day of the answer it holds (``answered_on``; None when it failed)."""
    with answers.open("rb") as source:
        table = _read_last(source)
    frame = table.to_pandas()  # text columns, None where a field is missing
    on = pd.to_datetime(frame["carried_from"].fillna(day.isoformat()), format="%Y-%m-%d")
    frame["answered_on"] = on.where(frame["status"] != "failed")
    return frame.drop_duplicates("video_id", keep="last").set_index("video_id")


def _read_last(source: Any) -> pa.Table:
    return pj.read_json(
        source,
        read_options=pj.ReadOptions(block_size=16 << 20),
        parse_options=pj.ParseOptions(explicit_schema=_LAST, unexpected_field_behavior="ignore"),
    )


def _no_answers() -> pd.DataFrame:
    return pd.DataFrame(
        {"status": pd.Series(dtype="str"), "answered_on": pd.Series(dtype="datetime64[ns]")},
        index=pd.Index([], name="video_id", dtype="str"),
    )


def _announced(events: list[StoredEvent], members: set[str]) -> tuple[set[str], list[str]]:
    """The videos of the set that events say can have changed, and what the plan does with each event."""
    videos, actions = set(), []
    for event in events:
        if not _changes_stickers(event):
            actions.append(NO_STICKER_CHANGE)
        elif event.video_id not in members:
            actions.append(NOT_IN_SET)
        else:
            videos.add(event.video_id)
            actions.append(ASKED)
    return videos, actions


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


def _choose(
    day: dt.date, members: pd.Series, groups: pd.Series, last: pd.DataFrame, announced: set[str], policy: RefreshPolicy
) -> tuple[dict[str, str], int]:
    """Video id -> reason for the videos to ask, in the set's order; and how many must-asks exceed the budget.
    The sweep and the budget are counted within each of ``groups`` (one per region with budgets per region;
    one for the whole account otherwise)."""
    known = last.reindex(members.to_numpy())
    status, answered_on = known["status"].to_numpy(), known["answered_on"]
    age = (pd.Timestamp(day) - answered_on).dt.days.to_numpy()
    reason = pd.Series(None, index=members.to_numpy(), dtype="object")
    reason[pd.isna(status)] = "new"
    reason[reason.isna() & (status == "failed")] = "failed"
    reason[reason.isna() & members.isin(announced).to_numpy()] = "event"
    reason[reason.isna() & (age >= policy.every_days)] = "due"
    # The rolling sweep: about 1/every_days of the videos with an answer each day, the oldest answers
    # first, then in an order fixed by their ids (so that a day of equal answers is taken in turn).
    order = pd.util.hash_array(members.to_numpy(dtype=object))
    over = 0
    for group in pd.unique(groups):
        mine = (groups == group).to_numpy()
        quota = math.ceil(int(pd.notna(age[mine]).sum()) / policy.every_days)
        sweep_room = quota - int((reason[mine] == "due").sum())
        must = int(reason[mine].notna().sum())
        if policy.budget is not None:
            over += max(0, must - policy.budget)
            sweep_room = min(sweep_room, policy.budget - must)
        if sweep_room > 0:
            candidates = pd.DataFrame({"age": age, "order": order}, index=reason.index)
            candidates = candidates[mine & reason.isna().to_numpy() & pd.notna(age)]
            chosen = candidates.sort_values(["age", "order"], ascending=[False, True]).index[:sweep_room]
            reason[chosen] = "sweep"
    asked = reason.dropna()
    return dict(zip(asked.index, asked.to_numpy(), strict=True)), over


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
