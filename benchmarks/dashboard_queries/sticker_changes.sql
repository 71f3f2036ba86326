-- New and vanished stickers per day: stickers in a snapshot that the one before did not hold, and stickers
-- of the one before that VOD answered without (sticker_history's first_seen and disappeared_on, day by day).
SELECT
    snapshot_date AS __timestamp,
    sum(new_stickers) AS new_stickers,
    sum(vanished_stickers) AS vanished_stickers
FROM sticker_changes_per_day
WHERE snapshot_date >= '{since}' AND snapshot_date < '{until}'
GROUP BY snapshot_date
ORDER BY __timestamp
LIMIT 10000
