-- Usage rolled up by day, kept by every ledger append in the same transaction: one row per
-- local day (in the time zone of `ledger_rollup_state`) and combination of dataset, provider
-- and consumer organisation, grant, purpose and outcome (`permit`, `deny`, `replay`) of the
-- data requests recorded that day. A missing value is the empty string, so that the key is
-- unique. Only permitted requests carry bytes, rows and fees. `first_seq` and `last_seq` are
-- the first and last entries counted in the row.
CREATE TABLE ledger_rollups (
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
    last_seq BIGINT NOT NULL,
    PRIMARY KEY (day, dataset_id, provider_id, consumer_id, grant_id, purpose, outcome)
) WITH (fillfactor = 50);
-- Room on every page, so that the append's update of a day's row (no key column changes) is
-- a heap-only tuple update and touches no index.
CREATE INDEX ledger_rollups_consumer ON ledger_rollups (consumer_id, day);
CREATE INDEX ledger_rollups_provider ON ledger_rollups (provider_id, day);

-- The time zone the roll-ups' days are in. Absent until the roll-ups are first built from the
-- ledger (a server does it on start); `pdx accounting rebuild` changes it.
CREATE TABLE ledger_rollup_state (
    singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    time_zone TEXT NOT NULL,
    rebuilt_at TIMESTAMP NOT NULL
);
