ALTER TABLE grants DROP COLUMN expiry_recorded;
ALTER TABLE grants DROP COLUMN distributions;
ALTER TABLE access_requests DROP COLUMN distributions;
