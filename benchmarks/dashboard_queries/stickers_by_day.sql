-- Stickers and bytes per day, by format and account (from the per-day summary the publish keeps).
SELECT
    snapshot_date AS __timestamp,
    format,
    account,
    sum(stickers) AS stickers,
    sum(total_bytes) AS bytes
FROM stickers_per_day
WHERE snapshot_date >= '{since}' AND snapshot_date < '{until}'
GROUP BY snapshot_date, format, account
ORDER BY __timestamp, format, account
LIMIT 10000
