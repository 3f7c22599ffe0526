-- A published dataset's pending revision: the metadata its owning agency prepares for the next
-- version (and its changes to distributions already published), while the dataset's own row,
-- terms and published distributions stay the version the public sees until the revision is
-- published.
CREATE TABLE dataset_revisions (
    dataset_id TEXT PRIMARY KEY NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('draft', 'in_review')),
    metadata TEXT NOT NULL,
    distribution_changes TEXT NOT NULL,
    review_comment TEXT,
    created_at TIMESTAMP NOT NULL,
    modified_at TIMESTAMP NOT NULL
);

-- The version a distribution was first published in; NULL while only a draft or a pending
-- revision holds it, so that nobody but the owning agency can obtain it. Distributions already
-- in a published version's snapshot get the first such version.
ALTER TABLE distributions ADD COLUMN published_version INTEGER;
UPDATE distributions SET published_version = (
    SELECT MIN(v.version) FROM dataset_versions v
    WHERE v.dataset_id = distributions.dataset_id
      AND v.snapshot LIKE '%' || distributions.id || '%'
);
