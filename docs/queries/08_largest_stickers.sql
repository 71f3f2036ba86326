-- Which are the largest sticker files of the newest snapshot?
SELECT
    video_id,
    dynamic_image_id,
    format,
    width || 'x' || height              AS size_px,
    duration_s,
    fps,
    round(file_size_bytes / 1e6, 2)     AS mb
FROM latest_stickers
ORDER BY file_size_bytes DESC, dynamic_image_id
LIMIT 10;
