"""The stickers report: one self-contained HTML page of charts, drawn from the warehouse.

The warehouse is opened read-only; the charts are matplotlib figures inlined as SVG, so the page needs
no network and no script to show them. Every drawn mark (bar, line) carries an id starting with
``mark-`` so a browser test can count what was drawn.
"""

from __future__ import annotations

import datetime as dt
import io
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2
import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogFormatter, MaxNLocator

from pipeline.errors import ConfigurationError
from pipeline.publish import sql
from pipeline.publish.warehouse import connect
from pipeline.store.files import atomic_write
from pipeline.store.layout import Layout
from pipeline.store.objects import Location
from pipeline.vod.api import FORMATS

TOP_VIDEOS = 15
FORMAT_COLORS = {"gif": "#4C78A8", "webp": "#F58518"}
OTHER_COLOR = "#9D755D"  # a format the report does not know
OUTCOME_COLORS = {"answered": "#54A24B", "not found": "#BAB0AC", "failed": "#E45756"}


@dataclass(frozen=True)
class Chart:
    slug: str
    title: str
    caption: str
    svg: str
    marks: int


@dataclass(frozen=True)
class ReportData:
    day: dt.date
    headline: dict[str, Any]
    per_day: pd.DataFrame
    measures: pd.DataFrame
    top_by_stickers: pd.DataFrame
    top_by_bytes: pd.DataFrame
    fetch_health: pd.DataFrame


@dataclass(frozen=True)
class RenderedReport:
    path: Location
    day: dt.date
    charts: dict[str, int]  # chart slug -> marks drawn
    headline: dict[str, Any]
    size_bytes: int


def read(warehouse: Location, day: dt.date) -> ReportData:
    """What the report shows for one snapshot day, read from the warehouse without writing to it."""
    if not warehouse.exists():
        raise ConfigurationError(f"No warehouse at {warehouse}: materialize the warehouse asset first")
    with connect(warehouse) as con:
        con.execute(sql.load("report.sql"))

        def query(macro: str, *args: object) -> pd.DataFrame:
            marks = ", ".join("?" for _ in (day, *args))
            return con.execute(f"SELECT * FROM {macro}({marks})", [day, *args]).df()

        headline = query("report_headline")
        if headline.empty:
            raise ConfigurationError(
                f"Snapshot {day} is not in the warehouse: materialize sticker_responses, stickers and warehouse for that day first"
            )
        return ReportData(
            day=day,
            headline={k: _plain(v) for k, v in headline.iloc[0].items()},
            per_day=query("report_stickers_per_day"),
            measures=query("report_measures"),
            top_by_stickers=query("report_top_videos", TOP_VIDEOS, "stickers"),
            top_by_bytes=query("report_top_videos", TOP_VIDEOS, "bytes"),
            fetch_health=query("report_fetch_health"),
        )


def render(layout: Layout, day: dt.date, *, now: dt.datetime | None = None) -> RenderedReport:
    """Renders the day's report to ``layout.report(day)``, replacing any previous one whole."""
    data = read(layout.warehouse, day)
    charts = draw_charts(data)
    generated = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    html = _template().render(day=day, headline=data.headline, charts=charts, generated=generated, top_n=TOP_VIDEOS)
    target = layout.report(day)
    with atomic_write(target) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return RenderedReport(
        path=target,
        day=day,
        charts={c.slug: c.marks for c in charts},
        headline=data.headline,
        size_bytes=target.stat().st_size,
    )


def draw_charts(data: ReportData) -> list[Chart]:
    specs: list[tuple[str, str, str, Callable[[Figure, ReportData], int], tuple[float, float]]] = [
        (
            "stickers-per-day",
            "Stickers per day by format",
            "Stickers of this snapshot by the UTC day they were made, stacked by format (summed per week or "
            "month when they span many months).",
            _per_day,
            (9, 3.6),
        ),
        ("size-distribution", "Size distribution", "How many stickers have each file size, stacked by format.", _sizes, (9, 3.6)),
        (
            "duration-distribution",
            "Duration distribution",
            "How many stickers last each number of seconds, stacked by format.",
            _durations,
            (9, 3.6),
        ),
        (
            "top-videos-by-stickers",
            f"Top {TOP_VIDEOS} videos by stickers",
            "The videos with the most stickers in this snapshot.",
            _top_by_stickers,
            (9, 4.6),
        ),
        (
            "top-videos-by-bytes",
            f"Top {TOP_VIDEOS} videos by bytes",
            "The videos whose stickers take the most space in this snapshot.",
            _top_by_bytes,
            (9, 4.6),
        ),
        (
            "fetch-health",
            "Fetch health over time",
            "Every snapshot up to this one: how each video's ListDynamicImage call ended, and the retries and throttled answers it took.",
            _fetch_health,
            (9, 5.2),
        ),
    ]
    charts = []
    # Titles, ids and formats are VOD's data: drawn as written, never read as mathtext or TeX. The texts
    # take the setting when they are made, so it holds while the charts are drawn, not only saved.
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        for slug, title, caption, draw, size in specs:
            fig = Figure(figsize=size, layout="constrained")
            marks = draw(fig, data)
            charts.append(Chart(slug, title, caption, _svg(fig, slug), marks))
    return charts


def _per_day(fig: Figure, data: ReportData) -> int:
    ax = fig.subplots()
    frame = data.per_day
    if frame.empty:
        return _no_data(ax, "No stickers in this snapshot")
    table = frame.pivot_table(index="creation_date", columns="format", values="stickers", aggfunc="sum", fill_value=0)
    table.index = pd.to_datetime(table.index)
    period, width = _period(table.index.max() - table.index.min())
    if period != "D":
        table = table.resample(period).sum()
    bottom = np.zeros(len(table))
    bars = []
    for fmt in _formats(table.columns):
        bars += ax.bar(
            table.index,
            table[fmt],
            width=width,
            bottom=bottom,
            label=shown(fmt),
            color=FORMAT_COLORS.get(fmt, OTHER_COLOR),
            align="edge" if period != "D" else "center",
        ).patches
        bottom += table[fmt].to_numpy()
    _date_axis(ax)
    ax.set_ylabel(f"stickers per {PERIOD_NAMES[period]}")
    ax.legend(title="format", loc="upper left")
    return _tag(bars, "stickers-per-day")


PERIOD_NAMES = {"D": "day", "W-MON": "week", "MS": "month"}


def _period(span: pd.Timedelta) -> tuple[str, float]:
    """Days while a bar per day stays readable, then weeks, then months (bar width in days)."""
    if span <= pd.Timedelta(days=120):
        return "D", 0.8
    if span <= pd.Timedelta(days=730):
        return "W-MON", 6.0
    return "MS", 26.0


def _sizes(fig: Figure, data: ReportData) -> int:
    ax = fig.subplots()
    sizes = data.measures["file_size_bytes"]
    if sizes.empty:
        return _no_data(ax, "No stickers in this snapshot")
    # Sticker sizes span orders of magnitude: log-spaced bins on a log axis show the whole range.
    low, high = max(sizes.min(), 1) / 1e3, max(sizes.max(), 2) / 1e3
    edges = np.geomspace(low, high * 1.0001, 31)
    marks = _histogram(ax, data.measures, "file_size_bytes", 1e3, edges, "size-distribution")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))  # plain numbers: no mathtext is drawn
    ax.set_xlabel("file size (KB, log scale)")
    return marks


def _durations(fig: Figure, data: ReportData) -> int:
    ax = fig.subplots()
    durations = data.measures["duration_s"].astype(float)
    if durations.empty:
        return _no_data(ax, "No stickers in this snapshot")
    edges = np.histogram_bin_edges(durations.to_numpy(), bins=min(40, max(1, durations.nunique())))
    marks = _histogram(ax, data.measures, "duration_s", 1.0, edges, "duration-distribution")
    ax.set_xlabel("duration (s)")
    return marks


def _histogram(ax: Axes, measures: pd.DataFrame, column: str, scale: float, edges: np.ndarray, slug: str) -> int:
    values = measures[column].astype(float) / scale
    formats = _formats(measures["format"].unique())
    groups = [values[measures["format"] == fmt].to_numpy() for fmt in formats]
    _, _, containers = ax.hist(
        groups,
        bins=list(edges),
        stacked=True,
        label=[shown(f) for f in formats],
        color=[FORMAT_COLORS.get(f, OTHER_COLOR) for f in formats],
    )
    ax.set_ylabel("stickers")
    ax.legend(title="format")
    bars: Any = containers  # a BarContainer for one group, a list of them for several
    patches = [p for c in (bars if len(groups) > 1 else [bars]) for p in c]
    return _tag(patches, slug)


def _top_by_stickers(fig: Figure, data: ReportData) -> int:
    return _top(fig.subplots(), data.top_by_stickers, "stickers", 1.0, "stickers", "top-videos-by-stickers")


def _top_by_bytes(fig: Figure, data: ReportData) -> int:
    return _top(fig.subplots(), data.top_by_bytes, "total_bytes", 1e6, "MB", "top-videos-by-bytes")


def _top(ax: Axes, frame: pd.DataFrame, column: str, scale: float, label: str, slug: str) -> int:
    if frame.empty:
        return _no_data(ax, "No stickers in this snapshot")
    frame = frame.iloc[::-1]  # largest at the top
    bars = ax.barh(_video_labels(frame), frame[column] / scale, color=FORMAT_COLORS["gif"])
    ax.bar_label(bars, fmt="%.3g", padding=3, fontsize=8)
    ax.set_xlabel(label)
    ax.tick_params(axis="y", labelsize=8)
    ax.margins(x=0.1)
    return _tag(bars.patches, slug)


def _video_labels(frame: pd.DataFrame) -> list[str]:
    """Each video's title and the start of its id (titles need not be unique), or its id without a title."""
    titles = frame["title"] if "title" in frame else pd.Series(None, index=frame.index, dtype=object)
    return [
        shown(f"{title[:40]} ({video_id[:8]})" if isinstance(title, str) and title else video_id)
        for title, video_id in zip(titles, frame["video_id"], strict=True)
    ]


# A control character has no glyph, and most cannot be in an SVG at all (XML 1.0): each is drawn as its
# picture (U+2400 to U+2421; a C1 control or a noncharacter as U+FFFD), so a label stays one line.
_PICTURES = {c: 0x2400 + c for c in range(0x20)} | {0x7F: 0x2421} | dict.fromkeys([*range(0x80, 0xA0), 0xFFFE, 0xFFFF], 0xFFFD)


def shown(text: str) -> str:
    """Text from VOD as a chart draws it: as written, its control characters as visible pictures."""
    return text.translate(_PICTURES)


def _fetch_health(fig: Figure, data: ReportData) -> int:
    outcomes, effort = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    frame = data.fetch_health
    days = pd.to_datetime(frame["snapshot_date"])
    bottom = np.zeros(len(frame))
    marks = []
    for name, column in (("answered", "videos_answered"), ("not found", "videos_not_found"), ("failed", "videos_failed")):
        bars = outcomes.bar(days, frame[column], width=0.8, bottom=bottom, label=name, color=OUTCOME_COLORS[name])
        marks += bars.patches
        bottom += frame[column].to_numpy()
    outcomes.set_ylabel("videos")
    outcomes.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=3, frameon=False)
    for column, label, color in (("retries", "retries", "#B279A2"), ("throttled_answers", "throttled answers", "#E45756")):
        marks += effort.plot(days, frame[column], marker="o", label=label, color=color)
    effort.set_ylabel("calls")
    effort.set_ylim(0, max(1, frame[["retries", "throttled_answers"]].to_numpy().max(initial=0)) * 1.15)
    effort.yaxis.set_major_locator(MaxNLocator(integer=True))
    effort.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=2, frameon=False)
    # A few days either side, so one snapshot still sits on a readable day axis.
    effort.set_xlim(days.min() - pd.Timedelta(days=3), days.max() + pd.Timedelta(days=3))
    _date_axis(effort)
    return _tag(marks, "fetch-health")


def _date_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator(maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _no_data(ax: Axes, text: str) -> int:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return 0


def _tag(artists: list, slug: str) -> int:
    for i, artist in enumerate(artists):
        artist.set_gid(f"mark-{slug}-{i}")
    return len(artists)


def _formats(present: Iterable[object]) -> list[str]:
    """The formats present, the known ones first in their usual order."""
    names = [str(f) for f in present]
    return [f for f in FORMATS if f in names] + sorted(f for f in names if f not in FORMATS)


def _svg(fig: Figure, slug: str) -> str:
    buffer = io.StringIO()
    # Text stays text (smaller, selectable); the salt keeps generated ids distinct between charts.
    with (
        matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": slug, "font.size": 9}),
        warnings.catch_warnings(),
    ):
        # The browser draws the text with its own fonts: matplotlib's lacking a title's glyph is no matter
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        fig.savefig(buffer, format="svg", metadata=dict.fromkeys(("Creator", "Date", "Format", "Type")))
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # no XML prolog or doctype inside HTML


def _plain(value: object) -> object:
    """numpy scalars as Python numbers and dates as ISO text, for templates and Dagster metadata."""
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return value.item() if isinstance(value, np.generic) else value


def _template() -> jinja2.Template:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(resources.files("pipeline.publish").joinpath("templates", "report.html").read_text(encoding="utf-8"))
