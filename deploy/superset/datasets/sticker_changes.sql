-- New and vanished stickers per snapshot day and account, against the account's snapshot before (the
-- per-day summary the publish keeps; a sticker VOD answered a video without has vanished, a failed fetch
-- proves nothing)
SELECT snapshot_date, account, new_stickers, vanished_stickers
FROM sticker_changes_per_day
