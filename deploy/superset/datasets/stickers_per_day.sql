-- Stickers and their bytes per snapshot day, by account and format
SELECT snapshot_date, account, format, count(*) AS stickers, sum(file_size_bytes) AS bytes
FROM stickers
GROUP BY snapshot_date, account, format
