-- How each snapshot day's videos ended, and the share carried from an earlier day (not asked that day)
SELECT
    snapshot_date,
    account,
    videos,
    videos_answered,
    videos_not_found,
    videos_failed,
    videos_carried,
    round(100.0 * videos_carried / nullif(videos, 0), 1) AS carried_pct
FROM fetch_log
