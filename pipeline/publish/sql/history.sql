-- Change over time, one query away: every sticker ever seen, when it was first and last seen, and
-- whether it is gone. A view, computed when queried, so publishing costs nothing more as days pile up.

CREATE VIEW sticker_history AS
WITH newest AS (
    SELECT max(snapshot_date) AS snapshot_date FROM video_fetches
),
seen AS (
    SELECT
        video_id,
        dynamic_image_id,
        min(snapshot_date)                      AS first_seen,
        max(snapshot_date)                      AS last_seen,
        count(*)                                AS snapshots_seen,
        arg_max(format, snapshot_date)          AS format,
        arg_max(file_size_bytes, snapshot_date) AS file_size_bytes,
        arg_max(creation_time, snapshot_date)   AS creation_time
    FROM stickers
    GROUP BY video_id, dynamic_image_id
),
-- A sticker is gone only once VOD answered for its video without it: the video's list came back
-- without this sticker, or VOD said the video no longer exists. A failed fetch proves nothing.
gone AS (
    SELECT seen.video_id, seen.dynamic_image_id, min(f.snapshot_date) AS disappeared_on
    FROM seen
    JOIN video_fetches AS f
      ON f.video_id = seen.video_id
     AND f.snapshot_date > seen.last_seen
     AND f.status IN ('answered', 'not_found')
    WHERE seen.last_seen < (SELECT snapshot_date FROM newest)
    GROUP BY ALL
),
newest_fetches AS (
    SELECT video_id, status FROM video_fetches WHERE snapshot_date = (SELECT snapshot_date FROM newest)
)
SELECT
    seen.video_id,
    seen.dynamic_image_id,
    seen.format,
    seen.file_size_bytes,
    seen.creation_time,
    seen.first_seen,
    seen.last_seen,
    seen.snapshots_seen,
    seen.last_seen = (SELECT snapshot_date FROM newest) AS present,
    CASE
        WHEN seen.last_seen = (SELECT snapshot_date FROM newest) THEN false
        WHEN gone.disappeared_on IS NOT NULL THEN true
    END                                                 AS disappeared,
    gone.disappeared_on,
    newest_fetches.status                               AS newest_fetch_status
FROM seen
LEFT JOIN gone USING (video_id, dynamic_image_id)
LEFT JOIN newest_fetches USING (video_id);
