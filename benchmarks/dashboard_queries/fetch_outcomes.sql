-- Fetch outcomes and carried share per day.
SELECT
    snapshot_date AS __timestamp,
    account,
    sum(videos_answered) AS answered,
    sum(videos_not_found) AS not_found,
    sum(videos_failed) AS failed,
    sum(videos_carried) AS carried,
    sum(videos_carried) / sum(videos) AS carried_share
FROM fetch_log
WHERE snapshot_date >= '{since}' AND snapshot_date < '{until}'
GROUP BY snapshot_date, account
ORDER BY __timestamp, account
LIMIT 10000
