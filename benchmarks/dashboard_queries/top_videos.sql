-- Top videos with titles: the videos with the most stickers in the range's newest snapshot (a sum over
-- the range would count each sticker once a day), titles from the newest walk.
SELECT
    s.video_id,
    v.title,
    s.stickers,
    s.total_bytes AS bytes
FROM video_stickers_per_day AS s
LEFT JOIN latest_videos AS v USING (account, video_id)
WHERE s.snapshot_date = (
    SELECT max(snapshot_date) FROM stickers_per_day WHERE snapshot_date >= '{since}' AND snapshot_date < '{until}'
)
ORDER BY stickers DESC, bytes DESC, video_id
LIMIT 20
