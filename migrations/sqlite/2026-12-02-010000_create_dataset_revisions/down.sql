ALTER TABLE distributions DROP COLUMN published_version;
DROP TABLE dataset_revisions;
