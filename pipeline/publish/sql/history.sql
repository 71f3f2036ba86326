-- Change over time, one query away: every sticker ever seen, when it was first and last seen, and
-- whether it is gone. A view, computed when queried, so publishing costs nothing more as days pile up.

CREATE VIEW sticker_history AS
WITH newest AS (  -- each account's newest snapshot
    SELECT account, max(snapshot_date) AS newest FROM video_fetches GROUP BY account
),
seen AS (
    SELECT
        account,
        video_id,
        dynamic_image_id,
        min(snapshot_date)                      AS first_seen,
        max(snapshot_date)                      AS last_seen,
        count(*)                                AS snapshots_seen,
        arg_max(format, snapshot_date)          AS format,
        arg_max(file_size_bytes, snapshot_date) AS file_size_bytes,
        arg_max(creation_time, snapshot_date)   AS creation_time
    FROM stickers
    GROUP BY account, video_id, dynamic_image_id
),
-- A sticker is gone only once VOD answered for its video without it: the video's list came back
-- without this sticker, or VOD said the video no longer exists. A failed fetch proves nothing.
gone AS (
    SELECT seen.account, seen.video_id, seen.dynamic_image_id, min(f.snapshot_date) AS disappeared_on
    FROM seen
    JOIN newest USING (account)
    JOIN video_fetches AS f
      ON f.account = seen.account
     AND f.video_id = seen.video_id
     AND f.snapshot_date > seen.last_seen
     AND f.status IN ('answered', 'not_found')
    WHERE seen.last_seen < newest.newest
    GROUP BY ALL
),
newest_fetches AS (
    SELECT f.account, f.video_id, f.status FROM video_fetches AS f JOIN newest USING (account) WHERE f.snapshot_date = newest.newest
)
SELECT
    seen.account,
    seen.video_id,
    seen.dynamic_image_id,
    seen.format,
    seen.file_size_bytes,
    seen.creation_time,
    seen.first_seen,
    seen.last_seen,
    seen.snapshots_seen,
    seen.last_seen = newest.newest                      AS present,
    CASE
        WHEN seen.last_seen = newest.newest THEN false
        WHEN gone.disappeared_on IS NOT NULL THEN true
    END                                                 AS disappeared,
    gone.disappeared_on,
    newest_fetches.status                               AS newest_fetch_status
FROM seen
LEFT JOIN newest USING (account)
LEFT JOIN gone USING (account, video_id, dynamic_image_id)
LEFT JOIN newest_fetches USING (account, video_id);
