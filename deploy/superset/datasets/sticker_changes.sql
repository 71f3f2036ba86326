-- New (first seen) and vanished (deleted upstream) stickers per snapshot day and account
WITH first AS (
    SELECT account, first_seen AS snapshot_date, count(*) AS stickers FROM sticker_history GROUP BY ALL
),
gone AS (
    SELECT account, disappeared_on AS snapshot_date, count(*) AS stickers FROM sticker_history WHERE disappeared GROUP BY ALL
)
SELECT f.snapshot_date, f.account, coalesce(first.stickers, 0) AS new_stickers, coalesce(gone.stickers, 0) AS vanished_stickers
FROM fetch_log AS f
LEFT JOIN first USING (account, snapshot_date)
LEFT JOIN gone USING (account, snapshot_date)
