-- Typing of raw answers, run by pipeline/normalize.py in an in-process DuckDB. Statements are named by
-- the comment before them.
--
-- The `answers_*` statements make the view `answers`: one row per video of the raw store, with `items`
-- (its DynamicImageList, every field as text) and `item_types` (each item's JSON type).
-- `answers_shaped` reads the answer file with the items' shape declared: the fast way, which fails at
-- an item that is not an object; `answers_any` reads any shape of item, parsing each one;
-- `answers_records` does the same from the relation raw_records (records handed over in memory).
-- `video_fetches` and `typed` read `answers`, streamed in file order, with the variables
-- snapshot_date and url_validity_s set. $record_columns, $item_struct and $item_json stand for the
-- raw store's fields and the item's fields (pipeline.schema.API_FIELDS), filled in when loaded.

-- name: answers_shaped
CREATE OR REPLACE TEMP VIEW answers AS
SELECT
    * EXCLUDE (response),
    response.DynamicImageList AS items,
    list_transform(response.DynamicImageList, lambda x: CASE WHEN x IS NULL THEN 'NULL' ELSE 'OBJECT' END) AS item_types
FROM read_json(
    getvariable('answers_path'),
    format = 'newline_delimited',
    hive_partitioning = false,
    columns = {
        $record_columns,
        response: 'STRUCT(DynamicImageList $item_struct[])'
    }
);

-- name: answers_any
CREATE OR REPLACE TEMP VIEW answers AS
SELECT
    * EXCLUDE (response),
    list_transform(response.DynamicImageList,
                   lambda j: CASE WHEN json_type(j) = 'OBJECT' THEN from_json(j, '$item_json') END) AS items,
    list_transform(response.DynamicImageList, lambda j: json_type(j)) AS item_types
FROM read_json(
    getvariable('answers_path'),
    format = 'newline_delimited',
    hive_partitioning = false,
    columns = {
        $record_columns,
        response: 'STRUCT(DynamicImageList JSON[])'
    }
);

-- name: answers_records
CREATE OR REPLACE TEMP VIEW answers AS
WITH parsed AS (
    SELECT * EXCLUDE (response), from_json(response, '{"DynamicImageList": ["JSON"]}') AS response
    FROM raw_records
)
SELECT
    * EXCLUDE (response),
    list_transform(response.DynamicImageList,
                   lambda j: CASE WHEN json_type(j) = 'OBJECT' THEN from_json(j, '$item_json') END) AS items,
    list_transform(response.DynamicImageList, lambda j: json_type(j)) AS item_types
FROM parsed;

-- name: macros
CREATE OR REPLACE TEMP MACRO text_of(x) AS nullif(trim(x), '');
-- A raw value quoted for a reason, cut short when long.
CREATE OR REPLACE TEMP MACRO q(x) AS
    '''' || CASE WHEN length(coalesce(x, '')) > 60 THEN left(x, 60) || '...' ELSE coalesce(x, '') END || '''';
-- Trimmed text that is a whole number: an optional '+' and 1 to 18 digits (so it always fits BIGINT).
CREATE OR REPLACE TEMP MACRO digits_of(t) AS CASE WHEN starts_with(t, '+') THEN substr(t, 2) ELSE t END;
CREATE OR REPLACE TEMP MACRO whole(t) AS
    CASE WHEN length(digits_of(t)) BETWEEN 1 AND 18 AND trim(digits_of(t), '0123456789') = ''
         THEN CAST(digits_of(t) AS BIGINT) END;
-- Trimmed text `t` present, but its whole number `n` not positive or above `maximum`.
CREATE OR REPLACE TEMP MACRO bad_whole(t, n, maximum) AS t IS NOT NULL AND coalesce(NOT (n > 0 AND n <= maximum), true);
-- A FileURL that is present but not an http(s) address.
CREATE OR REPLACE TEMP MACRO not_http(u) AS
    u IS NOT NULL AND NOT regexp_matches(lower(left(u, 9)), '^https?://[^/?#\s]');
-- A FileURL as it may be quoted: without its auth_key token, a secret while it is valid.
CREATE OR REPLACE TEMP MACRO redacted(u) AS regexp_replace(u, '(?i)(auth_key=)[^&#]*', '\1<redacted>', 'g');

-- name: seen_ids
CREATE OR REPLACE TEMP TABLE seen_ids (id VARCHAR);

-- name: video_fetches
SELECT
    getvariable('snapshot_date')::DATE               AS snapshot_date,
    video_id,
    status,
    CASE WHEN status = 'answered' THEN coalesce(len(items), 0) ELSE 0 END::INTEGER AS stickers_returned,
    error_code,
    error_message,
    request_id,
    http_status::INTEGER                             AS http_status,
    attempts::INTEGER                                AS attempts,
    fetched_at::TIMESTAMPTZ                          AS fetched_at
FROM answers;

-- name: typed
-- Every item of the chunk, in order: its typed columns, its raw values, and `reason`: '' when it
-- passes every check on its own, else every check it failed, in words. A sticker id that comes twice
-- is found by pipeline/normalize.py, across the day.
WITH unnested AS (
    SELECT video_id AS asked, request_id, fetched_at::TIMESTAMPTZ AS fetched_at,
           unnest(items) AS item, unnest(item_types) AS item_type, unnest(range(len(items))) AS item_index
    FROM answers
    WHERE status = 'answered' AND items IS NOT NULL
),
raw AS (
    SELECT
        asked, request_id, fetched_at, item_index::INTEGER AS item_index,
        item_type IS DISTINCT FROM 'OBJECT' AS not_an_object,
        item.CreationTime   AS raw_creation_time,
        item.Duration       AS raw_duration,
        item.DynamicImageId AS raw_dynamic_image_id,
        item.FileSize       AS raw_file_size,
        item.FileURL        AS raw_file_url,
        item.Format         AS raw_format,
        item.Fps            AS raw_fps,
        item.Height         AS raw_height,
        item.Width          AS raw_width,
        item.JobId          AS raw_job_id,
        item.VideoId        AS raw_video_id
    FROM unnested
),
trimmed AS (
    SELECT
        *,
        text_of(raw_video_id)          AS t_video_id,
        text_of(raw_dynamic_image_id)  AS dynamic_image_id,
        text_of(raw_job_id)            AS job_id,
        lower(text_of(raw_format))     AS format,
        text_of(raw_creation_time)     AS t_creation_time,
        text_of(raw_duration)          AS t_duration,
        text_of(raw_fps)               AS t_fps,
        text_of(raw_width)             AS t_width,
        text_of(raw_height)            AS t_height,
        text_of(raw_file_size)         AS t_file_size,
        text_of(raw_file_url)          AS t_file_url
    FROM raw
),
checked AS (
    SELECT
        *,
        try_strptime(t_creation_time, '%Y-%m-%dT%H:%M:%SZ') AS creation_naive,
        TRY_CAST(t_duration AS DOUBLE)                        AS duration_s,
        whole(t_fps)                                          AS fps_n,
        whole(t_width)                                        AS width_n,
        whole(t_height)                                       AS height_n,
        whole(t_file_size)                                    AS file_size_n,
        -- What follows the first 'auth_key=' and the character before it.
        split_part(substr(t_file_url, strpos(t_file_url, 'auth_key=') + 9, 14), '-', 1) AS auth_digits,
        strpos(t_file_url, 'auth_key=') > 1
            AND contains(substr(t_file_url, strpos(t_file_url, 'auth_key=') + 9, 14), '-')
            AND substr(t_file_url, strpos(t_file_url, 'auth_key=') - 1, 1) IN ('?', '&')   AS auth_framed
    FROM trimmed
),
flagged AS (
    SELECT
        *,
        not_an_object OR t_video_id IS NULL OR t_video_id <> asked OR dynamic_image_id IS NULL
        OR NOT regexp_full_match(dynamic_image_id, '[A-Za-z0-9_\-]{1,128}')
        OR coalesce(NOT regexp_full_match(job_id, '[A-Za-z0-9_\-]{1,128}'), false)
        OR coalesce(format NOT IN ('gif', 'webp'), true) OR creation_naive IS NULL
        OR coalesce(NOT (isfinite(duration_s) AND duration_s > 0), true)
        OR bad_whole(t_fps, fps_n, 2147483647) OR bad_whole(t_width, width_n, 2147483647)
        OR bad_whole(t_height, height_n, 2147483647) OR file_size_n IS NULL
        OR bad_whole(t_file_size, file_size_n, 9223372036854775807)
        OR t_file_url IS NULL OR length(t_file_url) > 2048 OR not_http(t_file_url) AS bad,
        -- The leftmost [?&]auth_key=<1 to 12 digits>- is nearly always the first 'auth_key=': read it
        -- with string functions, and only fall back to the regular expression when it is not.
        CASE WHEN auth_framed AND length(auth_digits) BETWEEN 1 AND 12 AND trim(auth_digits, '0123456789') = ''
             THEN auth_digits
             ELSE regexp_extract(t_file_url, '[?&]auth_key=([0-9]{1,12})-', 1) END AS auth_signed_at
    FROM checked
)
SELECT
    getvariable('snapshot_date')::DATE                        AS snapshot_date,
    asked                                                     AS video_id,
    dynamic_image_id,
    job_id,
    format,
    creation_naive::TIMESTAMPTZ                               AS creation_time,  -- without ICU: as UTC
    duration_s,
    TRY_CAST(fps_n AS INTEGER)                                AS fps,
    TRY_CAST(width_n AS INTEGER)                              AS width,
    TRY_CAST(height_n AS INTEGER)                             AS height,
    file_size_n                                               AS file_size_bytes,
    split_part(split_part(t_file_url, '?', 1), '#', 1)        AS file_url,
    to_timestamp(TRY_CAST(auth_signed_at AS BIGINT) + getvariable('url_validity_s')) AS url_expires_at,
    request_id,
    fetched_at,
    item_index,
    CASE WHEN bad THEN concat_ws('; ',
        CASE WHEN not_an_object THEN 'the item is not a JSON object' END,
        CASE WHEN t_video_id IS NULL THEN 'VideoId is missing' END,
        CASE WHEN t_video_id <> asked THEN 'VideoId ' || q(t_video_id) || ' is not the video asked for (' || asked || ')' END,
        CASE WHEN dynamic_image_id IS NULL THEN 'DynamicImageId is missing' END,
        CASE WHEN NOT regexp_full_match(dynamic_image_id, '[A-Za-z0-9_\-]{1,128}')
             THEN 'DynamicImageId ' || q(dynamic_image_id) || ' is not a VOD id (1 to 128 letters, digits, - or _)' END,
        CASE WHEN NOT regexp_full_match(job_id, '[A-Za-z0-9_\-]{1,128}')
             THEN 'JobId ' || q(job_id) || ' is not a VOD id (1 to 128 letters, digits, - or _)' END,
        CASE WHEN format IS NULL THEN 'Format is missing' END,
        CASE WHEN format NOT IN ('gif', 'webp') THEN 'Format ' || q(raw_format) || ' is not gif or webp' END,
        CASE WHEN t_creation_time IS NULL THEN 'CreationTime is missing' END,
        CASE WHEN t_creation_time IS NOT NULL AND creation_naive IS NULL
             THEN 'CreationTime ' || q(t_creation_time) || ' is not a UTC time like 2020-07-28T02:01:06Z' END,
        CASE WHEN t_duration IS NULL THEN 'Duration is missing' END,
        CASE WHEN t_duration IS NOT NULL AND coalesce(NOT (isfinite(duration_s) AND duration_s > 0), true)
             THEN 'Duration ' || q(t_duration) || ' is not a positive number of seconds' END,
        CASE WHEN bad_whole(t_fps, fps_n, 2147483647)
             THEN 'Fps ' || q(raw_fps) || ' is not a positive whole number of frames per second' END,
        CASE WHEN bad_whole(t_width, width_n, 2147483647)
             THEN 'Width ' || q(raw_width) || ' is not a positive whole number of pixels' END,
        CASE WHEN bad_whole(t_height, height_n, 2147483647)
             THEN 'Height ' || q(raw_height) || ' is not a positive whole number of pixels' END,
        CASE WHEN t_file_size IS NULL THEN 'FileSize is missing' END,
        CASE WHEN bad_whole(t_file_size, file_size_n, 9223372036854775807)
             THEN 'FileSize ' || q(raw_file_size) || ' is not a positive whole number of bytes' END,
        CASE WHEN t_file_url IS NULL THEN 'FileURL is missing' END,
        CASE WHEN length(t_file_url) > 2048 THEN 'FileURL is longer than 2048 characters' END,
        CASE WHEN not_http(t_file_url) THEN 'FileURL ' || q(redacted(t_file_url)) || ' is not an http(s) address' END
    ) ELSE '' END                                             AS reason,
    raw_creation_time, raw_duration, raw_dynamic_image_id, raw_file_size, raw_file_url, raw_format,
    raw_fps, raw_height, raw_width, raw_job_id, raw_video_id
FROM flagged;  -- in file order: preserve_insertion_order is on and nothing here reorders

-- name: seen_before
-- Rows of the chunk (by number) whose sticker id was kept in an earlier chunk of the day.
-- (An inner join, so DuckDB hashes the chunk, the smaller side, not every id of the day.)
SELECT chunk_ids.row FROM seen_ids JOIN chunk_ids ON chunk_ids.id = seen_ids.id;

-- name: remember
INSERT INTO seen_ids SELECT dynamic_image_id FROM kept;
