"""The raw store: one JSON line per video and day, holding VOD's answer exactly as it came.

A day's answers are appended to ``answers.jsonl.partial`` as they arrive and made durable in small
batches; once every video has its outcome they are written to ``answers.jsonl`` in video-set order.
A fetch that is interrupted (even killed) resumes from the partial file, asking only the videos missing.
Normalization reads only the finished file, so it can be redone any time without calling VOD again.

On an object store, which cannot append, the partial file is a folder of objects: each batch made durable
is put as the next one (``answers.jsonl.partial/00000001.jsonl``, ...), and a resumed fetch reads them in
order. The finished file is put whole, then the batches are removed.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.store import objects
from pipeline.store.files import atomic_write, durable
from pipeline.store.layout import PARTITION_KEY
from pipeline.store.objects import Location
from pipeline.vod.outcome import CARRIED, FetchSummary, Outcome, sticker_count


class AnswerWriter:
    """Appends outcomes to a day's partial answer file; ``commit()`` puts it into place, in video-set order.

    A partial file left by a run that was stopped or killed is picked up: its answered and not-found
    records are kept (``done``) and only the other videos need calling again. A failed record, or a
    line cut short by the kill, is dropped, so the video is asked again.
    """

    def __init__(self, path: Location, partial: Location, *, flush_every: int = 200):
        self.path = path
        self.flush_every = flush_every
        self._batches: _Batches | None = None
        self._local: tempfile.TemporaryDirectory[str] | None = None
        if objects.is_remote(partial):
            self._batches = _Batches(partial)
            self._local = tempfile.TemporaryDirectory(prefix="vod-stickers-")
            self.partial = Path(self._local.name) / partial.name
            self.partial.write_bytes(self._batches.read())
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.partial = partial
        self.done: dict[str, dict[str, Any]] = _salvage(self.partial)
        if self._batches is not None:
            self._batches.replace(self.partial.read_bytes())
        self._file = open(self.partial, "a", encoding="utf-8")
        self._sent = self._file.tell()
        self._pending = 0

    def write(self, outcome: Outcome) -> None:
        # vars(), not asdict(): the same fields in the same order, without deep-copying VOD's answer
        self._file.write(json.dumps(vars(outcome), ensure_ascii=False, separators=(",", ":")) + "\n")
        self._pending += 1
        if self._pending >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        durable(self._file)
        self._pending = 0
        if self._batches is not None and self._file.tell() > self._sent:
            with open(self.partial, "rb") as f:
                f.seek(self._sent)
                batch = f.read()
            self._batches.append(batch)
            self._sent += len(batch)

    def commit(self, order: list[str], before_commit: Callable[[], None] | None = None) -> None:
        """Writes the finished file with one record per video of ``order`` (the videos asked, in the set's
        order): the outcome written for it. A video without an outcome raises ValueError. The videos not
        asked are carried by normalization from the day they were answered (``carried_sources``), not copied.

        ``before_commit()`` runs once the file is written and before it is put into place, the day's commit
        point: what it writes is there whenever the day is finished.

        The same day therefore gives the same file, and the same Parquet after it, whatever order the
        answers arrived in and however many times the fetch was interrupted.
        """
        self.flush()
        self._file.close()
        offsets: dict[str, tuple[int, int]] = {}
        with open(self.partial, "rb") as src:
            position = 0
            for line in src:
                if line.strip():
                    offsets[_video_id_of(line)] = (position, len(line))
                position += len(line)
            missing = [v for v in order if v not in offsets]
            if missing:
                raise ValueError(f"{len(missing)} videos have no outcome yet (first: {missing[0]})")
            with atomic_write(self.path) as tmp, open(tmp, "wb") as dst:
                for video_id in order:
                    start, size = offsets[video_id]
                    src.seek(start)
                    dst.write(src.read(size))
                durable(dst)
                if before_commit is not None:
                    before_commit()
        self.partial.unlink()
        if self._batches is not None:
            self._batches.clear()
        self._cleanup()

    def close(self) -> None:
        """Keeps what was written (durable) without marking the day finished."""
        if not self._file.closed:
            self.flush()
            self._file.close()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._local is not None:
            self._local.cleanup()


class _Batches:
    """A partial answer file on an object store: numbered objects, each a batch of whole lines."""

    def __init__(self, folder: Location):
        self.folder = folder
        self._names = sorted(p.name for p in folder.glob("*.jsonl")) if folder.exists() else []
        self._next = int(self._names[-1].split(".")[0]) + 1 if self._names else 1

    def read(self) -> bytes:
        return b"".join((self.folder / name).read_bytes() for name in self._names)

    def append(self, data: bytes) -> None:
        name = f"{self._next:08d}.jsonl"
        (self.folder / name).write_bytes(data)
        self._names.append(name)
        self._next += 1

    def replace(self, data: bytes) -> None:
        """One batch holding ``data`` instead of the others (a crash in between leaves both: read dedupes)."""
        old, self._names = self._names, []
        if data:
            self.append(data)
        for name in old:
            objects.remove(self.folder / name)

    def clear(self) -> None:
        self.replace(b"")


def carry_records(answers: Location, day: dt.date, video_ids: Collection[str], regions: Mapping[str, str], out: BinaryIO) -> set[str]:
    """Writes to ``out`` the records of ``video_ids`` in a finished day's file (``answers``, of ``day``) as a
    later day carries them, in one pass; returns the videos found (one the day answered, found missing or
    carried itself; not one that failed).

    A record is the one kept that day, unchanged but for its status (``carried``, the outcome it carries in
    ``carried_status``), the day of the answer (``carried_from``: that day, or the day it carried from), no
    reason, and its region as the later day's set says (``regions``): its request id, time and answer are
    those of the call that made it. What normalization types when the day it builds on is not in the lake.
    """
    found: set[str] = set()
    with answers.open("rb") as src:
        for line in src:
            if len(found) == len(video_ids):
                break
            if not line.strip():
                continue
            record = json.loads(line)
            video_id = record.get("video_id")
            if video_id not in video_ids or video_id in found or record.get("status") == "failed":
                continue
            found.add(video_id)
            if record.get("status") != CARRIED:
                record["carried_from"], record["carried_status"] = day.isoformat(), record.get("status")
            record["status"], record["reason"] = CARRIED, None
            if regions.get(video_id):
                record["region"] = regions[video_id]
            out.write((json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8"))
    return found


def _salvage(partial: Path) -> dict[str, dict[str, Any]]:
    """The final outcomes (answered or not found) of an unfinished file, which is rewritten to hold just
    those; returns them by video id, without the answers themselves."""
    if not partial.exists():
        return {}
    kept: dict[str, dict[str, Any]] = {}
    with atomic_write(partial) as tmp, open(partial, encoding="utf-8") as src, open(tmp, "w", encoding="utf-8") as dst:
        for line in src:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # cut short by the kill
            if record.get("status") in ("answered", "not_found") and record.get("video_id") not in kept:
                dst.write(line if line.endswith("\n") else line + "\n")
                kept[record["video_id"]] = {
                    "status": record["status"],
                    "stickers": sticker_count(record.get("response")),
                }
        durable(dst)
    return kept


def _video_id_of(line: bytes) -> str:
    return json.loads(line)["video_id"]


# A finished day's state: each video of its set, what the day did with it and the answer it holds.
STATE = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("region", pa.string()),  # as the day's set says
        pa.field("status", pa.string(), nullable=False),  # answered, not_found, failed or carried
        pa.field("answer", pa.string()),  # the outcome of the answer held: answered or not_found (null: failed)
        pa.field("answered_on", pa.date32()),  # the day that answer was made (null: failed)
        pa.field("stickers", pa.int32(), nullable=False),  # items in that answer
    ]
)


def write_state(path: Location, state: pa.Table | pd.DataFrame) -> None:
    """Keeps a day's state (``STATE``'s table, or a frame of its columns with ``answered_on`` as datetime64)
    atomically."""
    table = state if isinstance(state, pa.Table) else pa.Table.from_pandas(state[STATE.names], schema=STATE, preserve_index=False)
    with atomic_write(path) as tmp:
        pq.write_table(table, tmp)


def read_state(path: Location, *, status: str | None = None) -> pd.DataFrame:
    """A day's state by video id: status, answer, answered_on (datetime64[ns]), stickers; of the videos of
    that ``status`` only, if one is given (selected in Arrow)."""
    with path.open("rb") as source:
        table = pq.read_table(source, schema=STATE)
    if status is not None:
        table = table.filter(pc.equal(table["status"], status))
    frame = table.to_pandas(date_as_object=False).set_index("video_id")
    frame["answered_on"] = frame["answered_on"].astype("datetime64[ns]")
    return frame


def state_from_answers(answers: Location, day: dt.date) -> pd.DataFrame:
    """A finished day's state read from its answer file, for days kept before their state was (``read_state``'s
    frame)."""
    ids, regions, statuses, held, made, stickers = [], [], [], [], [], []
    with answers.open("rb") as src:
        for line in src:
            if not line.strip():
                continue
            record = json.loads(line)
            status = record.get("status")
            answer = record.get("carried_status") if status == CARRIED else status if status != "failed" else None
            ids.append(record.get("video_id"))
            regions.append(record.get("region"))
            statuses.append(status)
            held.append(answer)
            made.append(None if answer is None else record.get("carried_from") or day.isoformat())
            stickers.append(sticker_count(record.get("response")))
    frame = pd.DataFrame(
        {
            "region": pd.array(regions, dtype="str"),
            "status": statuses,
            "answer": held,
            "answered_on": pd.to_datetime(pd.Series(made, dtype="object")).astype("datetime64[ns]").to_numpy(),
            "stickers": stickers,
        },
        index=pd.Index(ids, name="video_id", dtype="str"),
    )
    return frame[~frame.index.duplicated(keep="last")]


def finished_days(root: Location) -> list[dt.date]:
    """The days whose fetch finished (their ``answers.jsonl`` is kept under ``root``/raw), oldest first."""
    return sorted(
        dt.date.fromisoformat(path.parent.name.split("=", 1)[1]) for path in (root / "raw").glob(f"{PARTITION_KEY}=*/answers.jsonl")
    )


def summary_of(answers: Location) -> FetchSummary:
    """A finished day's fetch summary rebuilt from its answers, for a day whose ``fetch.json`` was lost: the
    outcomes and items exactly, the calls and retries from each video's attempts; throttled answers and
    seconds are not kept per video (0)."""
    summary = FetchSummary()
    with answers.open("rb") as src:
        for line in src:
            if not line.strip():
                continue
            record = json.loads(line)
            if record.get("status") == CARRIED:
                summary.carried += 1
                summary.carried_stickers += sticker_count(record.get("response"))
                continue
            summary.asked += 1
            summary.count(
                Outcome(**{k: record.get(k) for k in ("video_id", "status", "fetched_at", "attempts")}, response=record.get("response"))
            )
            attempts = int(record.get("attempts") or 1)
            summary.calls += attempts
            summary.retries += attempts - 1
            fetched = record.get("fetched_at")
            if fetched:
                summary.started_at = min(summary.started_at or fetched, fetched)
                summary.finished_at = max(summary.finished_at or fetched, fetched)
    return summary


def day_summary(path: Location, answers: Location, state: Location | None = None) -> FetchSummary:
    """The summary of a finished fetch (``path``, its fetch.json), or rebuilt if it was lost: from its
    ``answers`` (``summary_of``), and the videos it carried from its ``state``."""
    if path.exists() or not answers.exists():
        return read_summary(path)
    summary = summary_of(answers)
    if state is not None and state.exists():
        frame = read_state(state)
        carried = frame[frame["status"] == CARRIED]
        summary.carried, summary.carried_stickers = len(carried), int(carried["stickers"].sum())
    return summary


def read_summary(path: Location) -> FetchSummary:
    return FetchSummary(**json.loads(path.read_text(encoding="utf-8")))  # fields added since default to 0
