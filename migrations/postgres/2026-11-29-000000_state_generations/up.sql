-- Generation counters, one per kind of state that servers cache: each is bumped by every write
-- to its state, inside the writing transaction, so that every server process sharing the
-- database can tell whether what it cached is still current. The catalog's counter moves here
-- from catalog_state; organisations and licensing (grants, licences) get their own, which the
-- data path's cached decision facts depend on.
CREATE TABLE state_generations (
    name TEXT PRIMARY KEY NOT NULL,
    generation BIGINT NOT NULL
);
INSERT INTO state_generations (name, generation)
SELECT 'catalog', generation FROM catalog_state;
INSERT INTO state_generations (name, generation) VALUES ('organizations', 0), ('licensing', 0);
DROP TABLE catalog_state;
