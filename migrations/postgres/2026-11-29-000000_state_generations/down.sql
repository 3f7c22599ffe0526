CREATE TABLE catalog_state (
    singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    generation BIGINT NOT NULL
);
INSERT INTO catalog_state (singleton, generation)
SELECT 1, generation FROM state_generations WHERE name = 'catalog';
DROP TABLE state_generations;
