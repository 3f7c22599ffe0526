DROP TABLE audit_events;
DROP TABLE api_keys;
DROP TABLE refresh_tokens;
DROP TABLE memberships;
DROP TABLE users;
DROP TABLE organizations;
