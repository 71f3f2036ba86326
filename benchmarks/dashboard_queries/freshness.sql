-- The newest day's freshness: each account's newest snapshot, when its fetch finished, and how old it is.
SELECT
    account,
    max(snapshot_date) AS newest_day,
    max(finished_at) AS finished_at,
    date_diff('hour', max(finished_at), now()) AS hours_old,
    arg_max(stickers_typed, snapshot_date) AS stickers
FROM fetch_log
WHERE snapshot_date >= '{since}' AND snapshot_date < '{until}'
GROUP BY account
ORDER BY account
LIMIT 10000
