-- What the HTML report shows, as table macros over the warehouse. Created as TEMP objects in a
-- read-only connection, so the warehouse file is never written. Each takes the snapshot day; a
-- deployment of several accounts gets one report of the day over them all.

-- One row: the day's fetch outcome and what it produced (the accounts fetch side by side: the longest
-- fetch's seconds).
CREATE TEMP MACRO report_headline(day) AS TABLE
SELECT
    f.snapshot_date,
    sum(f.videos)::BIGINT            AS videos,
    sum(f.videos_asked)::BIGINT      AS videos_asked,
    sum(f.videos_carried)::BIGINT    AS videos_carried,
    sum(f.videos_answered)::BIGINT   AS videos_answered,
    sum(f.videos_not_found)::BIGINT  AS videos_not_found,
    sum(f.videos_failed)::BIGINT     AS videos_failed,
    sum(f.stickers_typed)::BIGINT    AS stickers_typed,
    sum(f.rows_quarantined)::BIGINT  AS rows_quarantined,
    sum(f.calls)::BIGINT             AS calls,
    sum(f.retries)::BIGINT           AS retries,
    sum(f.throttled_answers)::BIGINT AS throttled_answers,
    max(f.seconds)                   AS seconds,
    (SELECT count(DISTINCT video_id) FROM stickers WHERE snapshot_date = day)         AS videos_with_stickers,
    (SELECT coalesce(sum(file_size_bytes), 0)::BIGINT FROM stickers WHERE snapshot_date = day) AS total_bytes
FROM fetch_log AS f
WHERE f.snapshot_date = day
GROUP BY f.snapshot_date;

-- Stickers made per day (UTC creation day) and format, as the snapshot saw them.
CREATE TEMP MACRO report_stickers_per_day(day) AS TABLE
SELECT creation_time::DATE AS creation_date, format, count(*) AS stickers
FROM stickers
WHERE snapshot_date = day
GROUP BY ALL
ORDER BY creation_date, format;

-- One row per sticker of the snapshot: the measures whose distributions the report draws.
CREATE TEMP MACRO report_measures(day) AS TABLE
SELECT format, file_size_bytes, duration_s
FROM stickers
WHERE snapshot_date = day;

-- The n videos of the snapshot with the most stickers (ranked_by = 'stickers') or the most bytes (ranked_by = 'bytes'),
-- with their titles where the account's videos were discovered that day.
CREATE TEMP MACRO report_top_videos(day, n, ranked_by) AS TABLE
SELECT v.*, a.title FROM (
    SELECT video_id, count(*) AS stickers, sum(file_size_bytes)::BIGINT AS total_bytes
    FROM stickers
    WHERE snapshot_date = day
    GROUP BY video_id
) AS v
LEFT JOIN (SELECT video_id, title FROM videos WHERE snapshot_date = day) AS a USING (video_id)
ORDER BY CASE WHEN ranked_by = 'bytes' THEN v.total_bytes ELSE v.stickers END DESC,
         CASE WHEN ranked_by = 'bytes' THEN v.stickers ELSE v.total_bytes END DESC,
         v.video_id
LIMIT n;

-- Fetch health of every snapshot up to the day: outcomes, retries and throttled answers.
CREATE TEMP MACRO report_fetch_health(day) AS TABLE
SELECT
    snapshot_date,
    sum(videos_answered)::BIGINT   AS videos_answered,
    sum(videos_not_found)::BIGINT  AS videos_not_found,
    sum(videos_failed)::BIGINT     AS videos_failed,
    sum(calls)::BIGINT             AS calls,
    sum(retries)::BIGINT           AS retries,
    sum(throttled_answers)::BIGINT AS throttled_answers,
    max(seconds)                   AS seconds
FROM fetch_log
WHERE snapshot_date <= day
GROUP BY snapshot_date
ORDER BY snapshot_date;
