-- Access tokens issued before a subject's `valid_after` stop working at once: a user whose
-- password changed (`user:<id>`), a member removed or given other roles (`member:<user>:<org>`),
-- a revoked API key (`key:<id>`). Every write bumps the `access` generation so that every
-- server process reloads the list.
CREATE TABLE access_revocations (
    subject TEXT PRIMARY KEY NOT NULL,
    valid_after TIMESTAMP NOT NULL
);
INSERT INTO state_generations (name, generation) VALUES ('access', 0);
