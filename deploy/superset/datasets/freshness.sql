-- Each account's newest snapshot day: how many days behind today (UTC) it is, and when its fetch ended
SELECT
    account,
    max(snapshot_date)                                                           AS newest_snapshot,
    date_diff('day', max(snapshot_date), CAST(now() AT TIME ZONE 'UTC' AS DATE)) AS days_behind,
    strftime(timezone('UTC', arg_max(finished_at, snapshot_date)), '%Y-%m-%d %H:%M') AS fetch_finished_utc,
    arg_max(videos_failed, snapshot_date)                                        AS videos_failed
FROM fetch_log
GROUP BY account
