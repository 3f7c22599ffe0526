DELETE FROM state_generations WHERE name = 'access';
DROP TABLE access_revocations;
