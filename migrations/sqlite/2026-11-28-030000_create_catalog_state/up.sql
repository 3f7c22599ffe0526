-- A counter bumped by every catalog write, so that search results and facet counts can be
-- cached per catalog state, across every server process sharing the database.
CREATE TABLE catalog_state (
    singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    generation BIGINT NOT NULL
);
INSERT INTO catalog_state (singleton, generation) VALUES (1, 0);
