-- Why did rows or videos not make it, per day: quarantine reasons and fetch errors?
SELECT snapshot_date, 'quarantined row' AS what, reason AS why, count(*) AS n
FROM quarantine
GROUP BY ALL
UNION ALL
SELECT snapshot_date, 'video ' || status, coalesce(error_code, '') || ': ' || error_message, count(*)
FROM video_fetches
WHERE status <> 'answered'
GROUP BY ALL
ORDER BY snapshot_date, what, n DESC;
