-- What the group-commit appender keeps beside the entries: running usage per grant (updated in
-- the same transaction as the entries it counts, so it always equals a recount of the ledger),
-- idempotency keys per grant (a retry returns the first receipt), the signed checkpoints, and
-- the columns the ledger API filters on.
ALTER TABLE ledger_entries ADD COLUMN actor_user_id TEXT;
CREATE INDEX ledger_entries_dataset ON ledger_entries (dataset_id);
CREATE INDEX ledger_entries_kind ON ledger_entries (kind);
CREATE INDEX ledger_entries_recorded ON ledger_entries (recorded_at);

CREATE TABLE ledger_usage (
    grant_id TEXT PRIMARY KEY NOT NULL,
    requests BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    rows_served BIGINT NOT NULL,
    fee BIGINT NOT NULL
);
INSERT INTO ledger_usage (grant_id, requests, bytes, rows_served, fee)
SELECT grant_id, COUNT(*), COALESCE(SUM(bytes), 0), 0, 0
FROM ledger_entries
WHERE grant_id IS NOT NULL AND decision = 'permit' AND kind = 'data_access'
GROUP BY grant_id;

CREATE TABLE ledger_idempotency (
    grant_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (grant_id, idempotency_key)
);

CREATE TABLE ledger_checkpoints (
    size BIGINT PRIMARY KEY NOT NULL,
    root_hash TEXT NOT NULL,
    note TEXT NOT NULL,
    signed_at TIMESTAMP NOT NULL
);
