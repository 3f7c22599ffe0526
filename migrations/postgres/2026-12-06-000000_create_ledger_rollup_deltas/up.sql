-- What each ledger append adds to the day roll-ups, inserted in the append's own transaction
-- (an insert, never an update of a shared day row), and folded into `ledger_rollups` by a
-- background step that deletes the rows it folded in the same transaction. The columns are
-- those of `ledger_rollups`; a batch writes one row per key it touches, so `first_seq` is
-- unique. No index: the append only inserts, and the fold reads the whole (small) table.
CREATE TABLE ledger_rollup_deltas (
    day TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    consumer_id TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    outcome TEXT NOT NULL,
    requests BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    rows_served BIGINT NOT NULL,
    fee BIGINT NOT NULL,
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL
);

-- Usage as of now: the folded day rows and the deltas not folded yet, read in one statement
-- (one snapshot), so that a fold committing meanwhile neither hides nor doubles a request.
CREATE VIEW ledger_rollups_current AS
    SELECT day, dataset_id, provider_id, consumer_id, grant_id, purpose, outcome,
           requests, bytes, rows_served, fee, first_seq, last_seq
      FROM ledger_rollups
    UNION ALL
    SELECT day, dataset_id, provider_id, consumer_id, grant_id, purpose, outcome,
           requests, bytes, rows_served, fee, first_seq, last_seq
      FROM ledger_rollup_deltas;
