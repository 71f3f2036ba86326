"""The HTML report, opened in a real headless browser (Debian's chromium) as a reader would open it."""

from __future__ import annotations

import datetime as dt
import os
import shutil

import pandas as pd
import pytest

from pipeline import snapshot
from pipeline.errors import ConfigurationError
from pipeline.publish import report, warehouse
from tests.conftest import make_client, write_videos

DAYS = (dt.date(2026, 11, 19), dt.date(2026, 11, 20))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHARTS = {
    "stickers-per-day": "Stickers per day by format",
    "size-distribution": "Size distribution",
    "duration-distribution": "Duration distribution",
    "top-videos-by-stickers": "Top 15 videos by stickers",
    "top-videos-by-bytes": "Top 15 videos by bytes",
    "fetch-health": "Fetch health over time",
}


def chromium() -> str:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(
            f"No chromium at {CHROMIUM}: the report test needs a real browser. Install Debian's package "
            "(sudo apt-get install -y --no-install-recommends chromium) or set CHROMIUM to its path."
        )
    return CHROMIUM


@pytest.fixture
def two_days(vod_service, layout):
    """Two snapshot days through the pipeline's steps against a local VOD service that throttles sometimes."""
    service = vod_service(catalog_size=60, calls_per_second=None, throttle_rate=0.1, fault_seed=7)
    write_videos(service, layout.videos_csv, unknown=3)
    with make_client(service) as client:
        for day in DAYS:
            snapshot.take_video_set(layout, day, today=day)
            snapshot.fetch_day(layout, day, client, concurrency=4, today=day)
            snapshot.normalize_day(layout, day)
    warehouse.publish(layout)
    return layout


def test_the_report_draws_every_chart_in_a_headless_browser(two_days):
    from playwright.sync_api import sync_playwright

    layout, day = two_days, DAYS[-1]
    rendered = report.render(layout, day)
    assert rendered.path == layout.root / "reports" / f"snapshot_date={day}" / "stickers.html"

    stickers = pd.read_parquet(layout.lake_partition("stickers", day))
    per_video = stickers.groupby("video_id").agg(stickers=("dynamic_image_id", "size"), total_bytes=("file_size_bytes", "sum"))
    top = per_video.reset_index().sort_values(["stickers", "total_bytes", "video_id"], ascending=[False, False, True])

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(rendered.path.as_uri(), wait_until="load")

            assert page.title() == f"VOD stickers report, snapshot {day}"
            assert page.locator("h1").inner_text() == f"VOD stickers report, snapshot {day}"
            figures = page.locator("figure.chart")
            assert figures.count() == len(CHARTS)
            drawn = {}
            for slug, title in CHARTS.items():
                figure = page.locator(f"#chart-{slug}")
                assert figure.locator("h2").inner_text() == title
                box = figure.locator("svg").bounding_box()
                assert box is not None and box["width"] > 300 and box["height"] > 150, (slug, box)
                # Marks the browser actually laid out with an area (bars, histogram bins, lines).
                drawn[slug] = figure.locator("svg [id^='mark-']").evaluate_all(
                    "marks => marks.filter(m => { const b = m.getBoundingClientRect(); return b.width > 0 && b.height > 0; }).length"
                )
            assert all(n > 0 for n in drawn.values()), drawn

            # The bar chart shows the 15 top videos, named by id, with the top count written by its bar.
            bar_chart = page.locator("#chart-top-videos-by-stickers")
            assert drawn["top-videos-by-stickers"] == 15
            labels = bar_chart.locator("svg text").evaluate_all("texts => texts.map(t => t.textContent.trim())")
            assert set(top["video_id"].head(15)) <= set(labels)
            assert str(top["stickers"].iloc[0]) in labels
            # Fetch health: an answered and a not-found bar per snapshot day (no video failed, so
            # that bar has no height) and the retries and throttled-answers lines.
            assert drawn["fetch-health"] == 2 * len(DAYS) + 2

            figures_text = page.locator("dl.figures").inner_text()
            assert f"{len(stickers):,}" in figures_text  # the stickers figure of the day
            assert [u for u in requests if not u.startswith("file://")] == []  # self-contained: no network
        finally:
            browser.close()
    html = rendered.path.read_text()
    assert "auth_key" not in html and "http" not in html.replace("http://www.w3.org", "")


def test_a_day_missing_from_the_warehouse_is_refused_saying_what_to_run(two_days):
    with pytest.raises(ConfigurationError, match="2026-11-21 is not in the warehouse: materialize"):
        report.render(two_days, dt.date(2026, 11, 21))
    assert not two_days.report(dt.date(2026, 11, 21)).exists()


def _report_data(titles: dict[str, str], formats: tuple[str, ...] = ("gif", "webp")) -> report.ReportData:
    """A day's report data as the warehouse answers it, with the given titles (video id -> title) on top."""
    day = DAYS[-1]
    top = pd.DataFrame(
        {
            "video_id": list(titles),
            "stickers": range(len(titles), 0, -1),
            "total_bytes": [1_000_000] * len(titles),
            "title": list(titles.values()),
        }
    )
    return report.ReportData(
        day=day,
        headline={},
        per_day=pd.DataFrame({"creation_date": [day] * len(formats), "format": list(formats), "stickers": [3] * len(formats)}),
        measures=pd.DataFrame({"file_size_bytes": [50_000] * len(formats), "duration_s": [2.5] * len(formats), "format": list(formats)}),
        top_by_stickers=top,
        top_by_bytes=top,
        fetch_health=pd.DataFrame(
            {
                "snapshot_date": [day],
                "videos_answered": [3],
                "videos_not_found": [0],
                "videos_failed": [0],
                "retries": [0],
                "throttled_answers": [0],
            }
        ),
    )


def svg_texts(svg: str) -> list[str]:
    """Every text an SVG chart shows, as a browser reads it (entities decoded)."""
    from xml.etree import ElementTree

    ns = "{http://www.w3.org/2000/svg}"
    return ["".join(t.itertext()) for t in ElementTree.fromstring(svg).iter(f"{ns}text")]


def test_titles_and_formats_with_dollars_are_drawn_as_written_never_as_mathtext():
    # One uploader's title must not break the day's report, nor be drawn as a formula
    titles = {"aaaa1111": "Win $$ now", "bbbb2222": "Top $10 & $20 deals", "cccc3333": r"$\alpha^2$ \$ {x}_1"}
    charts = {c.slug: c for c in report.draw_charts(_report_data(titles, formats=("gif", "$webp$")))}
    for slug in ("top-videos-by-stickers", "top-videos-by-bytes"):
        shown = svg_texts(charts[slug].svg)
        assert {f"{title} ({video_id})" for video_id, title in titles.items()} <= set(shown), shown
    assert "$webp$" in svg_texts(charts["stickers-per-day"].svg)
    assert "$webp$" in svg_texts(charts["size-distribution"].svg)
