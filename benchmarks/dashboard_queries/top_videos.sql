-- Top videos with titles: the most stickers on a day of the range (titles from the newest walk).
SELECT
    video_id,
    title,
    max(stickers) AS stickers,
    max(total_bytes) AS bytes
FROM (
    SELECT s.snapshot_date, s.account, s.video_id, v.title, s.stickers, s.total_bytes
    FROM video_stickers_per_day AS s
    LEFT JOIN latest_videos AS v USING (account, video_id)
    WHERE s.snapshot_date >= '{since}' AND s.snapshot_date < '{until}'
) AS virtual_table
GROUP BY video_id, title
ORDER BY stickers DESC, bytes DESC, video_id
LIMIT 20
