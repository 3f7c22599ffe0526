DROP TABLE grants;
DROP TABLE access_requests;
DROP TABLE offers;
ALTER TABLE licences DROP COLUMN policy;
