-- Stickers and bytes per day, by format and account.
SELECT
    snapshot_date AS __timestamp,
    format,
    account,
    count(*) AS stickers,
    sum(file_size_bytes) AS bytes
FROM stickers
WHERE snapshot_date >= '{since}' AND snapshot_date < '{until}'
GROUP BY snapshot_date, format, account
ORDER BY __timestamp, format, account
LIMIT 10000
