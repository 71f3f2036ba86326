-- Which videos have the most stickers, and how many bytes do they take?
SELECT video_id, title, stickers, gif_stickers, webp_stickers, round(total_bytes / 1e6, 2) AS total_mb
FROM video_sticker_stats
ORDER BY stickers DESC, total_bytes DESC, video_id
LIMIT 10;
