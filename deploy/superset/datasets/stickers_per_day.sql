-- Stickers and their bytes per snapshot day, by account and format (the per-day summary the publish keeps)
SELECT snapshot_date, account, format, stickers, total_bytes AS bytes
FROM stickers_per_day
