-- The identity of this PDX installation: exactly one row, written when the database is first migrated.
CREATE TABLE instance (
    singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
