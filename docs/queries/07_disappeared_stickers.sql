-- Which stickers disappeared upstream, when were they first and last seen, and was the whole video deleted?
SELECT video_id, dynamic_image_id, format, first_seen, last_seen, disappeared_on, newest_fetch_status
FROM sticker_history
WHERE disappeared
ORDER BY disappeared_on DESC, video_id, dynamic_image_id
LIMIT 10;
