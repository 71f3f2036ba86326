-- What the HTML report shows, as table macros over the warehouse. Created as TEMP objects in a
-- read-only connection, so the warehouse file is never written. Each takes the snapshot day.

-- One row: the day's fetch outcome and what it produced.
CREATE TEMP MACRO report_headline(day) AS TABLE
SELECT
    f.snapshot_date,
    f.videos,
    f.videos_asked,
    f.videos_carried,
    f.videos_answered,
    f.videos_not_found,
    f.videos_failed,
    f.stickers_typed,
    f.rows_quarantined,
    f.calls,
    f.retries,
    f.throttled_answers,
    f.seconds,
    (SELECT count(DISTINCT video_id) FROM stickers WHERE snapshot_date = day)         AS videos_with_stickers,
    (SELECT coalesce(sum(file_size_bytes), 0)::BIGINT FROM stickers WHERE snapshot_date = day) AS total_bytes
FROM fetch_log AS f
WHERE f.snapshot_date = day;

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
    videos_answered,
    videos_not_found,
    videos_failed,
    calls,
    retries,
    throttled_answers,
    seconds
FROM fetch_log
WHERE snapshot_date <= day
ORDER BY snapshot_date;
