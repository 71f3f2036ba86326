-- A view over Parquet files of the lake, read where they lie (absolute paths, fixed at publish time).
-- union_by_name: a column added to the schema later (region) is NULL in the days written before it
-- ($union: true only when some file lacks a column, since it makes DuckDB read every file's footer to bind).
-- $name: the view; $columns: its columns, in the schema's order; $files: a list literal of the files.
CREATE $kind VIEW $name AS
SELECT $columns
FROM read_parquet($files, hive_partitioning = true, hive_types = {'snapshot_date': DATE}, union_by_name = $union);
