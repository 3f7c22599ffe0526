-- The catalog's change feed, which every server process's search index follows: one row per
-- write that changes what search finds (a dataset's metadata, status or distributions; an
-- organisation, which every one of its datasets names; or, with neither set, the whole catalog,
-- asked for by `pdx search reindex`). Rows are added after the writing transaction has bumped
-- the catalog's generation counter, whose row lock orders writers, so sequence order is commit
-- order and a reader that has seen `seq` has seen everything before it.
CREATE TABLE catalog_changes (
    seq BIGSERIAL PRIMARY KEY,
    dataset_id TEXT,
    organization_id TEXT,
    changed_at TIMESTAMP NOT NULL
);
