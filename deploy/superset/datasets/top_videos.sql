-- Videos of each account's newest snapshot with their titles, stickers and bytes
SELECT account, video_id, title, stickers, gif_stickers, webp_stickers, total_bytes
FROM video_sticker_stats
