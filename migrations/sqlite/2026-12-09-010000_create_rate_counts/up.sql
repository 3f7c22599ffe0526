-- Rate-limit counts that every server process adds to about once a second and reads back
-- (pdx-storage's counters): per limit (scope), subject (e.g. a client address) and fixed
-- window (its start in seconds since the epoch). Windows older than the previous one are
-- deleted as the counts are exchanged.
CREATE TABLE rate_counts (
    scope TEXT NOT NULL,
    subject TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (scope, subject, window_start)
);
CREATE INDEX rate_counts_by_window ON rate_counts (scope, window_start);
