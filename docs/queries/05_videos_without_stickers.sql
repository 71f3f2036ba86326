-- Which videos have no sticker in the newest snapshot, and why (none made, or VOD did not answer)?
SELECT fetch_status, count(*) AS videos, min(video_id) AS example_video_id
FROM video_sticker_stats
WHERE stickers = 0
GROUP BY fetch_status
ORDER BY videos DESC;
