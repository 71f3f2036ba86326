-- New and vanished stickers per day, from sticker_history: a sticker is new on its first_seen day and
-- vanished on its disappeared_on day.
SELECT
    day AS __timestamp,
    count(*) FILTER (WHERE kind = 'new') AS new_stickers,
    count(*) FILTER (WHERE kind = 'vanished') AS vanished_stickers
FROM (
    SELECT first_seen AS day, 'new' AS kind FROM sticker_history
    UNION ALL
    SELECT disappeared_on AS day, 'vanished' AS kind FROM sticker_history WHERE disappeared_on IS NOT NULL
) AS virtual_table
WHERE day >= '{since}' AND day < '{until}'
GROUP BY day
ORDER BY __timestamp
LIMIT 10000
