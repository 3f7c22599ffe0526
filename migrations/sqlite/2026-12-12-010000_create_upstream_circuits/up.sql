-- Upstreams whose circuit a server process opened (pdx-gateway): every process holds calls to
-- the upstream off until open_until, for the configuration of configured_at only. The row goes
-- when a probe succeeds, or with the upstream.
CREATE TABLE upstream_circuits (
    distribution_id TEXT PRIMARY KEY NOT NULL
        REFERENCES api_upstreams (distribution_id) ON DELETE CASCADE,
    configured_at TIMESTAMP NOT NULL,
    open_until TIMESTAMP NOT NULL,
    opened_by TEXT NOT NULL
);
