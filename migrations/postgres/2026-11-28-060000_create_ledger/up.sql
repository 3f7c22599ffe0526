-- The circulation ledger: entries with contiguous sequence numbers from 0, each stored as its
-- canonical bytes and leaf hash, plus the columns usage is counted from; and the ledger head,
-- whose row every append locks so the sequence stays gap-free across server processes.
CREATE TABLE ledger_entries (
    seq BIGINT PRIMARY KEY NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL,
    decision TEXT NOT NULL,
    organization_id TEXT,
    dataset_id TEXT,
    grant_id TEXT,
    bytes BIGINT NOT NULL,
    body TEXT NOT NULL,
    leaf_hash TEXT NOT NULL
);
CREATE INDEX ledger_entries_grant ON ledger_entries (grant_id, decision);
CREATE INDEX ledger_entries_organization ON ledger_entries (organization_id);

CREATE TABLE ledger_head (
    singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    size BIGINT NOT NULL
);
INSERT INTO ledger_head (singleton, size) VALUES (1, 0);
