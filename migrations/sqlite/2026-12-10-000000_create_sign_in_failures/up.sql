-- Failed sign-ins per account and client address (pdx-access's throttle), so that every
-- server process slows down the same pair: the failures within the throttle's window and
-- when the last one was (milliseconds since the epoch). Both keys are truncated SHA-256
-- hashes, so no e-mail or client address is stored. Rows whose window has passed are
-- deleted as the servers exchange their limits.
CREATE TABLE sign_in_failures (
    account TEXT NOT NULL,
    address TEXT NOT NULL,
    failures BIGINT NOT NULL,
    last_failure BIGINT NOT NULL,
    PRIMARY KEY (account, address)
);
CREATE INDEX sign_in_failures_by_time ON sign_in_failures (last_failure);
