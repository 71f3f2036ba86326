-- The analysts' summaries. By the time this runs, the publisher has created:
--   stickers, quarantine, video_fetches, videos, events: views over every day's Parquet file of the lake (all snapshots);
--   latest_stickers, latest_videos: views over each account's newest day's stickers (videos) file only;
--   newest_video_fetches (temporary): each account's newest day's video_fetches file only;
--   fetch_runs (temporary): one row per day and account in the lake: the fetch summary committed with it;
--   lake_rows (temporary): rows per day, account and lake table, from the Parquet footers.
-- Every table below reads the newest day or per-day counts only, so a publish takes the same time
-- whatever the number of days kept. Runs inside a fresh database file that is then swapped in whole.

CREATE TABLE fetch_log AS
SELECT
    r.snapshot_date,
    r.account,
    r.asked + r.carried  AS videos,
    r.asked              AS videos_asked,
    r.answered           AS videos_answered,
    r.not_found          AS videos_not_found,
    r.failed             AS videos_failed,
    r.carried            AS videos_carried,
    r.stickers           AS stickers_returned,
    r.carried_stickers   AS stickers_carried,
    coalesce(s.rows, 0)  AS stickers_typed,
    coalesce(q.rows, 0)  AS rows_quarantined,
    r.calls,
    r.retries,
    r.throttled          AS throttled_answers,
    r.seconds,
    r.started_at,
    r.finished_at
FROM fetch_runs AS r
LEFT JOIN (SELECT snapshot_date, account, rows FROM lake_rows WHERE lake_table = 'stickers') AS s USING (snapshot_date, account)
LEFT JOIN (SELECT snapshot_date, account, rows FROM lake_rows WHERE lake_table = 'quarantine') AS q USING (snapshot_date, account)
ORDER BY r.snapshot_date, r.account;

CREATE TABLE video_sticker_stats AS
SELECT
    v.snapshot_date,
    v.account,
    v.video_id,
    v.region,
    a.title,
    v.status                                          AS fetch_status,
    count(s.dynamic_image_id)                         AS stickers,
    count(s.dynamic_image_id) FILTER (s.format = 'gif')  AS gif_stickers,
    count(s.dynamic_image_id) FILTER (s.format = 'webp') AS webp_stickers,
    coalesce(sum(s.file_size_bytes), 0)::BIGINT       AS total_bytes,
    avg(s.file_size_bytes)                            AS avg_bytes,
    max(s.file_size_bytes)                            AS max_bytes,
    avg(s.duration_s)                                 AS avg_duration_s,
    min(s.creation_time)                              AS first_created_at,
    max(s.creation_time)                              AS last_created_at
FROM newest_video_fetches AS v
LEFT JOIN latest_stickers AS s USING (snapshot_date, account, video_id)
LEFT JOIN latest_videos AS a USING (snapshot_date, account, video_id)
GROUP BY ALL
ORDER BY v.account, v.video_id;

CREATE TABLE daily_sticker_stats AS
SELECT
    snapshot_date,
    account,
    creation_time::DATE          AS creation_date,
    format,
    count(*)                     AS stickers,
    count(DISTINCT video_id)     AS videos,
    sum(file_size_bytes)::BIGINT AS total_bytes,
    avg(file_size_bytes)         AS avg_bytes,
    avg(duration_s)              AS avg_duration_s
FROM latest_stickers
GROUP BY ALL
ORDER BY account, creation_date, format;

CREATE TABLE format_stats AS
SELECT
    snapshot_date,
    account,
    format,
    count(*)                        AS stickers,
    count(DISTINCT video_id)        AS videos,
    sum(file_size_bytes)::BIGINT    AS total_bytes,
    avg(file_size_bytes)            AS avg_bytes,
    median(file_size_bytes)         AS median_bytes,
    avg(duration_s)                 AS avg_duration_s,
    avg(fps)                        AS avg_fps,
    avg(width)                      AS avg_width,
    avg(height)                     AS avg_height
FROM latest_stickers
GROUP BY ALL
ORDER BY account, format;
