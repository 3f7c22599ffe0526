-- The upstream of an API distribution (pdx-gateway): where the exchange forwards the calls it
-- permits, with the credential PDX presents there (sealed with the server's credential key;
-- never shown again), the methods and paths the publisher allows (JSON arrays), the time an
-- upstream may take and how many calls it may serve at once.
CREATE TABLE api_upstreams (
    distribution_id TEXT PRIMARY KEY NOT NULL REFERENCES distributions (id) ON DELETE CASCADE,
    base_url TEXT NOT NULL,
    credential_kind TEXT NOT NULL,
    credential_name TEXT,
    credential_sealed TEXT,
    credential_set_at TIMESTAMP,
    methods TEXT NOT NULL,
    paths TEXT NOT NULL,
    timeout_ms INTEGER NOT NULL,
    max_concurrency INTEGER NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
