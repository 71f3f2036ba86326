-- What each table, view and column means, kept in the warehouse itself: analysts read them with
-- `SELECT table_name, column_name, data_type, comment FROM duckdb_columns()` (and the tables' in
-- duckdb_tables() and duckdb_views()). Columns copied from the lake take their meaning from
-- pipeline/schema.py; the summaries' columns are described here.

COMMENT ON TABLE stickers IS 'Every sticker of every snapshot: one row per sticker per snapshot day';
COMMENT ON TABLE quarantine IS 'Sticker rows VOD returned that could not be typed or validated, with their raw values and the reason; every snapshot';
COMMENT ON TABLE video_fetches IS 'Every video of every snapshot: whether VOD answered, said not found, or the fetch failed, and why; or, for a video the day''s refresh plan did not ask, carried (its last answer, of carried_from)';
COMMENT ON TABLE events IS 'VOD''s event notifications (DynamicImageComplete, FileUploadComplete, DeleteMediaComplete, ...): when each came, by which channel, and what the refresh plan of snapshot_date did with it';
COMMENT ON VIEW latest_stickers IS 'The stickers of the newest snapshot';
COMMENT ON TABLE videos IS 'The account''s videos as discovered in VOD (VIDEO_SOURCE=vod), every snapshot: region, title, status, first and last seen, deleted upstream and when';
COMMENT ON TABLE latest_videos IS 'The account''s videos of the newest discovery, deleted ones included (deleted_upstream)';

COMMENT ON TABLE fetch_log IS 'One row per snapshot day and account: how the fetch went (videos, stickers, calls, retries, time)';
COMMENT ON COLUMN fetch_log.snapshot_date IS 'Day of the snapshot';
COMMENT ON COLUMN fetch_log.account IS 'The VOD account (its name in VOD_ACCOUNTS_FILE; ''default'' in a deployment of one account)';
COMMENT ON COLUMN fetch_log.videos IS 'Videos in the day''s set (= asked + carried)';
COMMENT ON COLUMN fetch_log.videos_asked IS 'Videos the day''s refresh plan asked VOD about (= answered + not found + failed)';
COMMENT ON COLUMN fetch_log.videos_carried IS 'Videos not asked that day: their last answer carried into the snapshot (video_fetches.carried_from says of which day)';
COMMENT ON COLUMN fetch_log.stickers_carried IS 'Stickers in the carried answers';
COMMENT ON COLUMN fetch_log.videos_answered IS 'Videos VOD answered for (with or without stickers)';
COMMENT ON COLUMN fetch_log.videos_not_found IS 'Videos asked that day that VOD does not know (InvalidVideo.NotFound): deleted, or a wrong id. Those carried from such an answer are in videos_carried (video_fetches.carried_status = ''not_found'')';
COMMENT ON COLUMN fetch_log.videos_failed IS 'Videos with no answer after every retry; their error is in video_fetches';
COMMENT ON COLUMN fetch_log.stickers_returned IS 'Stickers in VOD''s answers of the day (stickers_returned + stickers_carried = stickers_typed + rows_quarantined)';
COMMENT ON COLUMN fetch_log.stickers_typed IS 'Rows of that day in stickers';
COMMENT ON COLUMN fetch_log.rows_quarantined IS 'Rows of that day in quarantine';
COMMENT ON COLUMN fetch_log.calls IS 'ListDynamicImage calls made, retries included';
COMMENT ON COLUMN fetch_log.retries IS 'Calls that repeated an earlier one after a throttle, a server error or a garbled answer';
COMMENT ON COLUMN fetch_log.throttled_answers IS 'Answers refusing a call for flow control (Throttling*), each retried';
COMMENT ON COLUMN fetch_log.seconds IS 'Duration of the fetch in seconds (wall clock)';
COMMENT ON COLUMN fetch_log.started_at IS 'When the fetch started (UTC)';
COMMENT ON COLUMN fetch_log.finished_at IS 'When the fetch ended (UTC)';

COMMENT ON TABLE video_sticker_stats IS 'One row per video of each account''s newest snapshot, videos without stickers included';
COMMENT ON COLUMN video_sticker_stats.snapshot_date IS 'Day of the account''s newest snapshot';
COMMENT ON COLUMN video_sticker_stats.account IS 'The VOD account (its name in VOD_ACCOUNTS_FILE; ''default'' in a deployment of one account)';
COMMENT ON COLUMN video_sticker_stats.video_id IS 'VOD video id';
COMMENT ON COLUMN video_sticker_stats.region IS 'VOD storage region of the video';
COMMENT ON COLUMN video_sticker_stats.title IS 'Title of the video in the newest discovery (NULL when the set comes from videos.csv)';
COMMENT ON COLUMN video_sticker_stats.fetch_status IS 'answered, not_found, failed or carried (stickers are 0 unless answered or carried)';
COMMENT ON COLUMN video_sticker_stats.stickers IS 'Stickers of the video';
COMMENT ON COLUMN video_sticker_stats.gif_stickers IS 'Stickers in gif format';
COMMENT ON COLUMN video_sticker_stats.webp_stickers IS 'Stickers in webp format';
COMMENT ON COLUMN video_sticker_stats.total_bytes IS 'Bytes of all the video''s sticker files (0 when none)';
COMMENT ON COLUMN video_sticker_stats.avg_bytes IS 'Mean sticker file size in bytes (NULL when none)';
COMMENT ON COLUMN video_sticker_stats.max_bytes IS 'Largest sticker file in bytes (NULL when none)';
COMMENT ON COLUMN video_sticker_stats.avg_duration_s IS 'Mean sticker length in seconds (NULL when none)';
COMMENT ON COLUMN video_sticker_stats.first_created_at IS 'When the video''s first sticker was made (UTC)';
COMMENT ON COLUMN video_sticker_stats.last_created_at IS 'When the video''s latest sticker was made (UTC)';

COMMENT ON TABLE daily_sticker_stats IS 'Stickers of the newest snapshot by the day they were made (UTC) and format';
COMMENT ON COLUMN daily_sticker_stats.snapshot_date IS 'Day of the newest snapshot';
COMMENT ON COLUMN daily_sticker_stats.account IS 'The VOD account (its name in VOD_ACCOUNTS_FILE; ''default'' in a deployment of one account)';
COMMENT ON COLUMN daily_sticker_stats.creation_date IS 'Day the stickers were made (UTC)';
COMMENT ON COLUMN daily_sticker_stats.format IS 'gif or webp';
COMMENT ON COLUMN daily_sticker_stats.stickers IS 'Stickers made that day in that format';
COMMENT ON COLUMN daily_sticker_stats.videos IS 'Distinct videos they belong to';
COMMENT ON COLUMN daily_sticker_stats.total_bytes IS 'Their bytes in total';
COMMENT ON COLUMN daily_sticker_stats.avg_bytes IS 'Their mean file size in bytes';
COMMENT ON COLUMN daily_sticker_stats.avg_duration_s IS 'Their mean length in seconds';

COMMENT ON TABLE format_stats IS 'Stickers of the newest snapshot by format';
COMMENT ON COLUMN format_stats.snapshot_date IS 'Day of the newest snapshot';
COMMENT ON COLUMN format_stats.account IS 'The VOD account (its name in VOD_ACCOUNTS_FILE; ''default'' in a deployment of one account)';
COMMENT ON COLUMN format_stats.format IS 'gif or webp';
COMMENT ON COLUMN format_stats.stickers IS 'Stickers in that format';
COMMENT ON COLUMN format_stats.videos IS 'Distinct videos with a sticker in that format';
COMMENT ON COLUMN format_stats.total_bytes IS 'Bytes in total';
COMMENT ON COLUMN format_stats.avg_bytes IS 'Mean file size in bytes';
COMMENT ON COLUMN format_stats.median_bytes IS 'Median file size in bytes';
COMMENT ON COLUMN format_stats.avg_duration_s IS 'Mean length in seconds';
COMMENT ON COLUMN format_stats.avg_fps IS 'Mean frames per second';
COMMENT ON COLUMN format_stats.avg_width IS 'Mean width in pixels';
COMMENT ON COLUMN format_stats.avg_height IS 'Mean height in pixels';

COMMENT ON VIEW sticker_history IS 'One row per sticker ever seen: first and last snapshot it was in, and whether it is gone (computed when queried)';
COMMENT ON COLUMN sticker_history.account IS 'The VOD account (its name in VOD_ACCOUNTS_FILE; ''default'' in a deployment of one account)';
COMMENT ON COLUMN sticker_history.video_id IS 'VOD video id';
COMMENT ON COLUMN sticker_history.dynamic_image_id IS 'Sticker id (DynamicImageId)';
COMMENT ON COLUMN sticker_history.format IS 'gif or webp, as last seen';
COMMENT ON COLUMN sticker_history.file_size_bytes IS 'File size in bytes, as last seen';
COMMENT ON COLUMN sticker_history.creation_time IS 'When the sticker was made (UTC)';
COMMENT ON COLUMN sticker_history.first_seen IS 'First snapshot day that listed it';
COMMENT ON COLUMN sticker_history.last_seen IS 'Last snapshot day that listed it';
COMMENT ON COLUMN sticker_history.snapshots_seen IS 'Snapshot days that listed it';
COMMENT ON COLUMN sticker_history.present IS 'Listed in the account''s newest snapshot';
COMMENT ON COLUMN sticker_history.disappeared IS 'Deleted upstream: VOD answered for the video after last_seen without it (NULL: not present, but no answer since to prove it gone)';
COMMENT ON COLUMN sticker_history.disappeared_on IS 'First snapshot day VOD answered for the video without this sticker';
COMMENT ON COLUMN sticker_history.newest_fetch_status IS 'The video''s outcome in the newest snapshot: answered, not_found (video deleted), failed, or NULL (no longer in the set)';
