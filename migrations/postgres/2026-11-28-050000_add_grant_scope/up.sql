-- Requests and grants may cover chosen distributions of a dataset (empty: all of them), and a
-- grant's expiry is recorded once, when it is noticed.
ALTER TABLE access_requests ADD COLUMN distributions TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN distributions TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN expiry_recorded BOOLEAN NOT NULL DEFAULT FALSE;
