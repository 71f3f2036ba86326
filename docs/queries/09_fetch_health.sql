-- How healthy was each day's fetch: answers, failures, retries and throttling?
SELECT
    snapshot_date,
    videos_asked,
    videos_answered,
    videos_not_found,
    videos_failed,
    round(100 * videos_answered / videos_asked, 1)  AS answered_pct,
    calls,
    retries,
    throttled_answers,
    round(calls / videos_asked, 3)                  AS calls_per_video
FROM fetch_log
ORDER BY snapshot_date;
