"""Data-quality checks of one account's day of the lake's tables, wherever its files are (``lake.DayFiles``).
Each returns a ``CheckResult`` a person can read. ``audit`` runs the blocking ones: a day that fails one is not
committed into the lake (``snapshot.normalize_day``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.store.lake import DayFiles
from pipeline.store.layout import PARTITION_KEY
from pipeline.store.objects import Location
from pipeline.store.schema import TABLES, arrow_schema
from pipeline.vod.api import FORMATS


@dataclass
class CheckResult:
    passed: bool
    summary: str
    metadata: dict[str, Any] = field(default_factory=dict)


def schema_matches(files: DayFiles) -> CheckResult:
    """The day's Parquet file has exactly the declared columns and types."""
    expected = arrow_schema(TABLES["stickers"], without=(PARTITION_KEY,))
    actual = files.parquet("stickers").schema_arrow.remove_metadata()
    if actual.equals(expected):
        return CheckResult(True, "columns and types as declared")
    want = {f.name: str(f.type) for f in expected}
    got = {f.name: str(f.type) for f in actual}
    diffs = sorted(
        f"{name}: expected {want.get(name, 'absent')}, found {got.get(name, 'absent')}"
        for name in set(want) | set(got)
        if want.get(name) != got.get(name)
    )
    return CheckResult(False, "; ".join(diffs) or "nullability differs", {"differences": len(diffs)})


def unique_sticker_ids(files: DayFiles) -> CheckResult:
    """No (snapshot_date, dynamic_image_id) appears twice."""
    ids = files.parquet("stickers").read(columns=["dynamic_image_id"]).column(0).to_pandas()
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated) == 0:
        return CheckResult(True, f"{len(ids)} sticker ids, all distinct")
    return CheckResult(
        False,
        f"{len(duplicated)} dynamic_image_id values appear more than once",
        {"duplicated_ids": len(duplicated), "examples": ", ".join(map(str, duplicated[:5]))},
    )


def known_formats(files: DayFiles) -> CheckResult:
    """Every format is gif or webp."""
    formats = files.parquet("stickers").read(columns=["format"]).column(0).to_pandas()
    unknown = formats[~formats.isin(FORMATS)]
    if unknown.empty:
        return CheckResult(True, f"formats: {', '.join(sorted(formats.unique())) or 'none'}")
    return CheckResult(
        False, f"{len(unknown)} rows with a format other than {' or '.join(FORMATS)}", {"examples": ", ".join(unknown.unique()[:5])}
    )


def positive_measures(files: DayFiles) -> CheckResult:
    """Sizes, dimensions, frame rates and durations are positive where present."""
    columns = ["file_size_bytes", "width", "height", "fps", "duration_s"]
    frame = files.read("stickers", columns)
    bad = {c: int((frame[c] <= 0).fillna(False).sum()) for c in columns}
    bad = {c: n for c, n in bad.items() if n}
    if not bad:
        return CheckResult(True, f"{len(frame)} rows, all measures positive")
    return CheckResult(False, "non-positive values in " + ", ".join(f"{c} ({n})" for c, n in bad.items()), bad)


def fetch_reconciles(files: DayFiles) -> CheckResult:
    """Every video of the day has one outcome (asked or carried), and every item of the day's answers (returned
    or carried) is a sticker row or a quarantined row, by the fetch the day was typed from."""
    summary = files.fetch_summary()
    if summary is None:
        return CheckResult(
            False, f"the day's video_fetches file does not say which fetch it was typed from: re-run stickers for {files.day}"
        )
    stickers = files.parquet("stickers").metadata.num_rows
    quarantined = files.parquet("quarantine").metadata.num_rows
    videos = files.parquet("video_fetches").metadata.num_rows
    settled = summary.answered + summary.not_found + summary.failed
    metadata = {
        "asked": summary.asked,
        "answered": summary.answered,
        "not_found": summary.not_found,
        "failed": summary.failed,
        "carried": summary.carried,
        "items_returned": summary.stickers,
        "items_carried": summary.carried_stickers,
        "stickers": stickers,
        "quarantined": quarantined,
    }
    problems = []
    if settled != summary.asked:
        problems.append(f"{summary.asked} videos asked but {settled} settled (answered + not found + failed)")
    if videos != summary.asked + summary.carried:
        carried = f" + {summary.carried} carried" if summary.carried else ""
        problems.append(f"{summary.asked} videos asked{carried} but {videos} rows in video_fetches")
    items = summary.stickers + summary.carried_stickers
    if stickers + quarantined != items:
        carried = f" and {summary.carried_stickers} were carried" if summary.carried_stickers else ""
        problems.append(f"VOD returned {summary.stickers} items{carried} but {stickers} stickers + {quarantined} quarantined were written")
    if problems:
        return CheckResult(False, "; ".join(problems), metadata)
    return CheckResult(
        True,
        f"{summary.asked} asked = {summary.answered} answered + {summary.not_found} not found + {summary.failed} failed"
        f"{f', {summary.carried} carried' if summary.carried else ''}; {items} items = {stickers} stickers + {quarantined} quarantined",
        metadata,
    )


@dataclass(frozen=True)
class Check:
    """A blocking check: what it is called in the UI, what it does, and the function that does it."""

    name: str
    run: Callable[[DayFiles], CheckResult]
    description: str


BLOCKING = (
    Check("stickers_schema", schema_matches, "The day's Parquet file has exactly the declared columns and types."),
    Check("unique_sticker_ids", unique_sticker_ids, "No dynamic_image_id appears twice in a snapshot."),
    Check("known_formats", known_formats, "Every format is gif or webp."),
    Check("positive_measures", positive_measures, "File sizes, widths, heights, frame rates and durations are positive where present."),
    Check(
        "fetch_reconciles",
        fetch_reconciles,
        "Every video asked has one outcome (asked = answered + not found + failed) and every item VOD returned "
        "is a sticker row or a quarantined row.",
    ),
)


@dataclass
class Audit:
    """The blocking checks' results on one version of a day, and what became of it."""

    day: str
    checks: dict[str, CheckResult]
    run_id: str | None = None
    audited_at: str | None = None
    committed: bool = False
    held: dict[str, str] = field(default_factory=dict)  # table -> its file in staging, when not committed

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.checks.values())

    @property
    def failed(self) -> dict[str, CheckResult]:
        return {name: result for name, result in self.checks.items() if not result.passed}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Audit:
        checks = {name: CheckResult(**result) for name, result in value.pop("checks").items()}
        return cls(checks=checks, **value)

    @classmethod
    def read(cls, path: Location) -> Audit | None:
        """The audit kept at ``path`` (a day's ``audit.json``), None if there is none."""
        return cls.from_json(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else None


def audit(files: DayFiles) -> dict[str, CheckResult]:
    """Runs every blocking check on a day's files."""
    return {check.name: check.run(files) for check in BLOCKING}
