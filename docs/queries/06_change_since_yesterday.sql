-- What changed since the previous snapshot: stickers added and removed, and their bytes?
WITH days AS (
    SELECT max(snapshot_date) AS newest, coalesce(max(snapshot_date) FILTER (snapshot_date < (SELECT max(snapshot_date) FROM fetch_log)), max(snapshot_date)) AS previous
    FROM fetch_log
)
SELECT
    days.previous                                                             AS previous_snapshot,
    days.newest                                                               AS newest_snapshot,
    (SELECT count(*) FROM stickers WHERE snapshot_date = days.previous)       AS stickers_before,
    (SELECT count(*) FROM stickers WHERE snapshot_date = days.newest)         AS stickers_now,
    count(*) FILTER (first_seen = days.newest AND days.previous < days.newest) AS added,
    count(*) FILTER (disappeared_on = days.newest)                            AS removed,
    count(DISTINCT video_id) FILTER (disappeared_on = days.newest)            AS videos_losing_stickers,
    coalesce(round(sum(file_size_bytes) FILTER (disappeared_on = days.newest) / 1e6, 2), 0) AS removed_mb
FROM sticker_history, days
GROUP BY ALL;
