-- How many videos have no sticker, one, a few, or dozens?
SELECT
    CASE
        WHEN stickers <= 5 THEN stickers::VARCHAR
        WHEN stickers <= 10 THEN '6-10'
        WHEN stickers <= 20 THEN '11-20'
        ELSE '21 or more'
    END                                                         AS stickers_per_video,
    count(*)                                                    AS videos,
    round(100 * count(*) / sum(count(*)) OVER (), 1)            AS pct_of_videos,
    sum(stickers)                                               AS stickers
FROM video_sticker_stats
WHERE fetch_status = 'answered'
GROUP BY ALL
ORDER BY min(stickers);
