-- How are file sizes distributed, by format (kilobytes, newest snapshot)?
SELECT
    format,
    count(*)                                                    AS stickers,
    round(min(file_size_bytes) / 1e3)                           AS min_kb,
    round(quantile_cont(file_size_bytes, 0.25) / 1e3)           AS p25_kb,
    round(median(file_size_bytes) / 1e3)                        AS median_kb,
    round(quantile_cont(file_size_bytes, 0.75) / 1e3)           AS p75_kb,
    round(quantile_cont(file_size_bytes, 0.95) / 1e3)           AS p95_kb,
    round(max(file_size_bytes) / 1e3)                           AS max_kb,
    round(sum(file_size_bytes) / 1e6, 1)                        AS total_mb
FROM latest_stickers
GROUP BY format
ORDER BY format;
