-- Licences, datasets with their keywords and themes, distributions, published versions,
-- and the full-text index over published datasets.
CREATE TABLE licences (
    id TEXT PRIMARY KEY NOT NULL,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    open BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO licences (id, title, url, open, created_at) VALUES
    ('CC-BY-4.0', 'Creative Commons Attribution 4.0 International', 'https://creativecommons.org/licenses/by/4.0/', TRUE, '2026-11-28 00:00:00'),
    ('CC0-1.0', 'Creative Commons Zero v1.0 Universal', 'https://creativecommons.org/publicdomain/zero/1.0/', TRUE, '2026-11-28 00:00:00'),
    ('ODbL-1.0', 'Open Data Commons Open Database License v1.0', 'https://opendatacommons.org/licenses/odbl/1-0/', TRUE, '2026-11-28 00:00:00');

CREATE TABLE datasets (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    slug TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    contact_name TEXT,
    contact_email TEXT,
    spatial TEXT,
    temporal_start DATE,
    temporal_end DATE,
    update_frequency TEXT NOT NULL,
    languages TEXT NOT NULL,
    resource_code TEXT,
    sharing_class TEXT NOT NULL CHECK (sharing_class IN ('unconditional', 'conditional', 'none')),
    opening_class TEXT NOT NULL CHECK (opening_class IN ('open', 'conditional', 'closed')),
    grade TEXT NOT NULL CHECK (grade IN ('general', 'important', 'core')),
    licence_id TEXT REFERENCES licences (id),
    landing_page TEXT,
    status TEXT NOT NULL CHECK (status IN ('draft', 'in_review', 'published', 'withdrawn')),
    version INTEGER NOT NULL,
    review_comment TEXT,
    search_text TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    modified_at TIMESTAMP NOT NULL,
    published_at TIMESTAMP
);
CREATE INDEX datasets_status_modified ON datasets (status, modified_at);
CREATE INDEX datasets_organization ON datasets (organization_id);

CREATE TABLE dataset_keywords (
    dataset_id TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    keyword TEXT NOT NULL,
    PRIMARY KEY (dataset_id, keyword)
);
CREATE INDEX dataset_keywords_keyword ON dataset_keywords (keyword);

CREATE TABLE dataset_themes (
    dataset_id TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    theme TEXT NOT NULL,
    PRIMARY KEY (dataset_id, theme)
);
CREATE INDEX dataset_themes_theme ON dataset_themes (theme);

CREATE TABLE distributions (
    id TEXT PRIMARY KEY NOT NULL,
    dataset_id TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    description TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('file', 'api')),
    format TEXT NOT NULL,
    media_type TEXT NOT NULL,
    byte_size BIGINT,
    sha256 TEXT,
    storage_key TEXT,
    access_url TEXT,
    column_schema TEXT,
    created_at TIMESTAMP NOT NULL,
    modified_at TIMESTAMP NOT NULL
);
CREATE INDEX distributions_dataset ON distributions (dataset_id);
CREATE INDEX distributions_format ON distributions (format, dataset_id);

CREATE TABLE dataset_versions (
    dataset_id TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    published_at TIMESTAMP NOT NULL,
    published_by TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    PRIMARY KEY (dataset_id, version)
);

-- Full text: an FTS5 index kept in step with datasets.search_text by triggers. search_text
-- holds words and CJK unigrams and bigrams, space-separated, so unicode61 finds Chinese too.
CREATE VIRTUAL TABLE dataset_fts USING fts5(dataset_id UNINDEXED, search_text, tokenize = 'unicode61 remove_diacritics 2');
CREATE TRIGGER datasets_fts_insert AFTER INSERT ON datasets BEGIN
    INSERT INTO dataset_fts (dataset_id, search_text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER datasets_fts_update AFTER UPDATE OF search_text ON datasets BEGIN
    DELETE FROM dataset_fts WHERE dataset_id = old.id;
    INSERT INTO dataset_fts (dataset_id, search_text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER datasets_fts_delete AFTER DELETE ON datasets BEGIN
    DELETE FROM dataset_fts WHERE dataset_id = old.id;
END;
