-- Ingestions of tabular distributions into queryable tables (pdx-rows). Each ingestion loads
-- its own table (on SQLite a file in the data directory, on PostgreSQL a table
-- `row_table_<id>` beside these); the newest `ready` one answers row queries, so a re-ingestion replaces
-- the table atomically when it completes. `table_columns`, `options` and `rejects` are JSON.
CREATE TABLE ingestions (
    id TEXT PRIMARY KEY NOT NULL,
    distribution_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    state TEXT NOT NULL,
    options TEXT NOT NULL,
    table_columns TEXT NOT NULL,
    bytes_read BIGINT NOT NULL,
    bytes_total BIGINT NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    rejects TEXT NOT NULL,
    error TEXT,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);

CREATE INDEX ingestions_by_distribution ON ingestions (distribution_id, started_at);

-- At most one ingestion of a distribution runs at a time, whichever process started it.
CREATE UNIQUE INDEX ingestions_one_running ON ingestions (distribution_id) WHERE state = 'running';
