-- How many stickers were made each day, by format (the ten latest days with new stickers)?
SELECT
    creation_date,
    coalesce(sum(stickers) FILTER (format = 'gif'), 0)   AS gif,
    coalesce(sum(stickers) FILTER (format = 'webp'), 0)  AS webp,
    sum(stickers)                                        AS stickers,
    sum(videos)                                          AS videos,
    round(sum(total_bytes) / 1e6, 2)                     AS total_mb
FROM daily_sticker_stats
GROUP BY creation_date
ORDER BY creation_date DESC
LIMIT 10;
