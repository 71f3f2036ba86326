"""Ingest: the day's video set, VOD's raw answers, and the typed sticker rows."""

import collections
from typing import Any

import dagster as dg

from pipeline import refresh, snapshot
from pipeline.defs.alerts import alert_events_stopped, snapshot_deadline
from pipeline.defs.failures import operator_errors
from pipeline.defs.metadata import column_schema, markdown_table
from pipeline.defs.partitions import ACCOUNTS, account_of, day_asset, day_of
from pipeline.defs.resources import LakeResource, VodResource
from pipeline.events.inbox import Inbox
from pipeline.store.schema import TABLES


@day_asset(
    group="ingest",
    layer="raw",
    kinds={"csv"},
    description="The set of VOD videos to snapshot that day. With VIDEO_SOURCE=vod, every video of the "
    "account in each region of VOD_REGIONS, found by walking VOD's listings (GetVideoList, SearchMedia past "
    "its 5,000 cap): the videos created since the last walk, and every video once a week (a full walk, "
    "which notices deletions, confirmed with GetVideoInfos); the account's videos wait under staging/ and reach "
    "lake/videos with the day's audited stickers. "
    "Otherwise videos.csv in the data directory (a video_id column, and a region column when several regions "
    "are followed): blank, duplicate and malformed ids are reported in the log and in this asset's metadata, "
    "then left out. The day's copy of the set is kept beside its answers under raw/. A day that is over "
    "keeps the set it took then; one that took none is refused, since VOD answers only about now.",
)
def videos(context: dg.AssetExecutionContext, vod: VodResource, lake: LakeResource) -> dg.MaterializeResult:
    day, account, today = day_of(context), account_of(context), snapshot.utc_today()
    with operator_errors(account):
        source, layout = vod.source(), lake.layout(account)
        settings = vod.settings(account) if source.source == "vod" else None  # credentials needed only to discover
    found = None
    if settings is not None:
        with operator_errors(account), settings.clients() as clients:
            if not snapshot.is_over(day, today):
                context.log.info(f"Discovering the account's videos in {', '.join(settings.regions)}")
            if layout.videos_csv.exists():
                context.log.info(f"VIDEO_SOURCE=vod: {layout.videos_csv} is not read")
            video_set, found = snapshot.discover_video_set(
                layout,
                day,
                clients,
                full_walk_days=source.full_walk_days,
                concurrency=settings.concurrency,
                today=today,
                run_id=context.run.run_id,
            )
    else:
        with operator_errors(account):
            video_set = snapshot.take_video_set(layout, day, regions=vod.regions(account), today=today)
    if snapshot.is_over(day, today):
        context.log.info(f"{day} is over: the video set it took then is kept, not today's {source.source} source")
    for problem in video_set.problems():
        context.log.warning(f"{'videos.csv' if found is None else 'VOD listed'}: {problem}")
    metadata: dict[str, Any] = {
        "dagster/row_count": len(video_set.ids),
        "source": source.source,
        "videos_by_region": dg.MetadataValue.json(dict(collections.Counter(video_set.regions))),
    }
    metadata["rejected_ids"] = len(video_set.rejected)
    if source.source == "csv":
        metadata |= {"blank_ids": video_set.blank, "duplicate_ids": video_set.duplicates}
    if video_set.rejected:
        # JSON, not markdown: the ids are VOD's data, shown as written and never read as markup
        metadata["rejected"] = dg.MetadataValue.json(
            [{"where": where, "id": value[:200], "why": reason} for where, value, reason in video_set.rejected[:20]]
        )
    if found is not None:
        for region, walk in found.regions.items():
            context.log.info(
                f"{region}: {walk.kind} walk{f' since {walk.since}' if walk.since else ''} listed {walk.listed} "
                f"videos, {walk.new} new, {walk.deleted} deleted upstream"
            )
        metadata |= {
            "account_videos": found.videos,
            "deleted_upstream": found.deleted,
            "discovery_calls": found.calls,
            "discovery_seconds": found.seconds,
            "walks": dg.MetadataValue.md(
                "| region | walk | listed | new | deleted |\n|---|---|---|---|---|\n"
                + "".join(f"| {r} | {w.kind} | {w.listed:,} | {w.new:,} | {w.deleted:,} |\n" for r, w in found.regions.items())
            ),
        }
    return dg.MaterializeResult(metadata=metadata)


@day_asset(
    group="ingest",
    layer="raw",
    kinds={"json"},
    deps=[videos],
    # One fetch at a time of the account's budget. Several accounts each have their own: the run queue gives
    # each account one run at a time (dagster/partition/account in dagster.yaml), and a day's lease keeps two
    # fetches of one account's day apart wherever they run.
    pool=None if ACCOUNTS else "vod_api",
    description="Calls VOD's ListDynamicImage for the videos of the day whose stickers can have changed: "
    "the day's refresh plan asks the new videos, those VOD announced an event for, those that failed, and "
    "a rolling sweep so that none goes unasked for more than VOD_REFRESH_DAYS days (1: every video every "
    "day). Signed, at most VOD_CALLS_PER_SECOND calls per second, retried on throttling and server faults. "
    "VOD's answers are kept unchanged under raw/ (answers.jsonl), one record per video of the set: "
    "answered, not found, failed with its error, or carried (its last answer, not asked that day). The "
    "plan and the events it took are kept beside them (plan.json, plan.csv, events.jsonl). The log shows progress every 5 seconds (videos done, calls per second, time left); the "
    "metadata sums up the outcomes. Wrong credentials stop the run at the first answer. A day that is over "
    "is never asked again: its kept answers stand, and a day without them is refused, naming the days "
    "that can be redone.",
)
def sticker_responses(context: dg.AssetExecutionContext, vod: VodResource, lake: LakeResource) -> dg.MaterializeResult:
    account = account_of(context)
    with operator_errors(account):
        settings, layout = vod.settings(account), lake.layout(account)
        policy = vod.refresh(settings)
    day, today = day_of(context), snapshot.utc_today()
    with operator_errors(account), settings.clients() as clients, Inbox(layout.events_inbox) as inbox:
        if not snapshot.is_over(day, today):
            context.log.info(
                f"Calling ListDynamicImage in {', '.join(f'{r} ({c.endpoint})' for r, c in clients.items())} with "
                f"{settings.concurrency} workers, at most {settings.calls_per_second:g} calls/s"
                + (" shared by the regions" if settings.shared_limits and len(clients) > 1 else " per region" if len(clients) > 1 else "")
            )
        summary = snapshot.fetch_day(
            layout,
            day,
            clients,
            concurrency=settings.concurrency,
            policy=policy,
            inbox=inbox,
            run_id=context.run.run_id,
            on_progress=lambda progress: context.log.info(f"Fetched {progress}"),
            today=today,
        )
    plan = refresh.read_plan(layout, day, asks=False) if layout.plan(day).exists() else None
    if plan is not None:
        bare = f", those without stickers every {plan.bare_days}" if plan.bare_days and plan.bare_days != plan.every_days else ""
        context.log.info(
            f"Plan: asked {', '.join(f'{plan.counts.get(r, 0):,} {r}' for r in refresh.REASONS)}; "
            f"{plan.carried:,} videos carried from {plan.previous_day or 'no earlier day'} "
            f"(videos with stickers asked at least every {plan.every_days} days{bare}; events {plan.events})"
        )
        if plan.events == refresh.STOPPED:
            what = refresh.events_stopped_message(layout, day)
            context.log.warning(f"VOD's sticker events have stopped: {what}")
            if plan.stopped_since == plan.day:  # once, on the day they are found stopped
                context.log.info(alert_events_stopped(context.log, day.isoformat(), account, context.run.run_id, what))
    if snapshot.is_over(day, today):
        context.log.info(
            f"{day} is over: its answers, fetched {summary.started_at} to {summary.finished_at}, stand; VOD is not asked again"
        )
    context.log.info(
        f"{summary.asked} videos: {summary.answered} answered, {summary.not_found} not found, "
        f"{summary.failed} failed; {summary.calls} calls ({summary.retries} retries, "
        f"{summary.throttled} throttled) in {summary.seconds:.1f} s"
    )
    if summary.failed:
        context.log.warning(f"{summary.failed} videos failed; see the video_fetches table for each error")
    return dg.MaterializeResult(
        metadata={
            "videos_asked": summary.asked,
            "videos_answered": summary.answered,
            "videos_not_found": summary.not_found,
            "videos_failed": summary.failed,
            "stickers_returned": summary.stickers,
            "calls": summary.calls,
            "retries": summary.retries,
            "throttled_answers": summary.throttled,
            "seconds": summary.seconds,
            "calls_per_second": round(summary.calls / summary.seconds, 1) if summary.seconds else 0.0,
            "videos_carried": summary.carried,
            "dagster/row_count": summary.asked + summary.carried,
            **({"asked_because": dg.MetadataValue.json({r: plan.counts.get(r, 0) for r in refresh.REASONS})} if plan else {}),
            **({"events": plan.events, "videos_without_stickers_every_days": plan.bare_days or plan.every_days} if plan else {}),
            "unannounced_sticker_videos": summary.unannounced,
            "outcomes": dg.MetadataValue.md(
                "| outcome | videos |\n|---|---|\n"
                f"| answered | {summary.answered:,} |\n| not found | {summary.not_found:,} |\n"
                f"| failed | {summary.failed:,} |\n| **asked** | **{summary.asked:,}** |\n"
                f"| carried | {summary.carried:,} |\n\n"
                f"{summary.calls:,} calls, {summary.retries:,} retries, {summary.throttled:,} throttled "
                f"answers, {summary.seconds:.1f} s."
            ),
        }
    )


@day_asset(
    group="ingest",
    layer="lake",
    kinds={"pandas", "parquet"},
    deps=[sticker_responses],
    freshness_policy=snapshot_deadline(),
    description="The day's stickers as typed rows in Hive-partitioned Parquet "
    "(lake/stickers/snapshot_date=YYYY-MM-DD/, a file per account). Rows that fail typing go to lake/quarantine with "
    "the reason; each video's outcome goes to lake/video_fetches. The day's new files are audited by the "
    "blocking checks before they are committed into the lake, together; a day that fails one is held in "
    "staging/ (vod-stickers staged) and the lake keeps its previous audited version. Re-running replaces the "
    "day whole.",
)
def stickers(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    account = account_of(context)
    with operator_errors(account):
        settings = lake.settings()
        layout = settings.layout(account)
        report = snapshot.normalize_day(layout, day_of(context), url_validity_s=settings.url_validity_s, run_id=context.run.run_id)
    if report.quarantined:
        context.log.warning(
            f"{report.quarantined} rows quarantined: " + "; ".join(f"{reason} ({n})" for reason, n in report.reasons.most_common(5))
        )
    audit = report.audit
    if audit is None:
        raise RuntimeError(f"normalizing {day_of(context)} ended without auditing the day")
    if audit.committed:
        context.log.info(f"Audited and committed into the lake: {', '.join(audit.checks)} passed")
    else:
        context.log.error(
            "The day failed its audit and was not committed: "
            + "; ".join(f"{name}: {result.summary}" for name, result in audit.failed.items())
            + f". Its files are held in {layout.staging_root}/ (vod-stickers staged); "
            "the lake keeps the day's previous audited version."
        )
    return dg.MaterializeResult(
        metadata={
            "audit": "passed, committed into the lake" if audit.committed else "failed: held in staging, not in the lake",
            **({"held_in_staging": dg.MetadataValue.path(audit.held["stickers"])} if audit.held else {}),
            "dagster/row_count": report.stickers,
            "dagster/column_schema": column_schema(TABLES["stickers"]),
            "rows_quarantined": report.quarantined,
            "videos": dg.MetadataValue.json(report.videos),
            "preview": dg.MetadataValue.md(markdown_table(report.preview)),
        }
    )
