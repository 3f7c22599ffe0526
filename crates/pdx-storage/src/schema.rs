//! Table definitions for diesel, written by hand to match both migration folders.
//! Column types are the portable subset: TEXT for ids, TIMESTAMP for UTC instants.

diesel::table! {
    /// The identity of this installation: exactly one row.
    instance (singleton) {
        singleton -> Integer,
        id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// Agencies, enterprises and the platform itself.
    organizations (id) {
        id -> Text,
        slug -> Text,
        name -> Text,
        kind -> Text,
        credit_code -> Nullable<Text>,
        verified -> Bool,
        contact_email -> Nullable<Text>,
        contact_phone -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// User accounts.
    users (id) {
        id -> Text,
        email -> Text,
        display_name -> Text,
        password_hash -> Text,
        password_change_required -> Bool,
        disabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        email_confirmed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// One-time tokens sent by e-mail (registration, invitation, password reset), kept as
    /// keyed hashes.
    account_tokens (id) {
        id -> Text,
        purpose -> Text,
        token_hash -> Text,
        email -> Text,
        user_id -> Nullable<Text>,
        organization_id -> Nullable<Text>,
        created_by -> Nullable<Text>,
        payload -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        sent_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// One row per role a user holds in an organisation.
    memberships (organization_id, user_id, role) {
        organization_id -> Text,
        user_id -> Text,
        role -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// Opaque refresh tokens, stored as hashes; rotated on use.
    refresh_tokens (id) {
        id -> Text,
        family_id -> Text,
        user_id -> Text,
        organization_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Signed-in sessions of the web portal; the cookie's secret is stored only as a hash.
    web_sessions (id) {
        id -> Text,
        user_id -> Text,
        organization_id -> Text,
        csrf_token -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Machine-client credentials; the secret is stored only as a keyed hash.
    api_keys (id) {
        id -> Text,
        organization_id -> Text,
        user_id -> Text,
        name -> Text,
        client_id -> Text,
        secret_hash -> Text,
        roles -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Auditable events (sign-ins, role changes, key changes) until the ledger takes them over.
    audit_events (id) {
        id -> Text,
        occurred_at -> Timestamp,
        kind -> Text,
        outcome -> Text,
        actor_user_id -> Nullable<Text>,
        actor_organization_id -> Nullable<Text>,
        subject -> Nullable<Text>,
        client_address -> Nullable<Text>,
        request_id -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::table! {
    /// Licence templates that datasets and offers refer to.
    licences (id) {
        id -> Text,
        title -> Text,
        url -> Text,
        open -> Bool,
        created_at -> Timestamp,
        policy -> Text,
    }
}

diesel::table! {
    /// Datasets: the working copy of each, with its lifecycle status.
    datasets (id) {
        id -> Text,
        organization_id -> Text,
        slug -> Text,
        title -> Text,
        description -> Text,
        contact_name -> Nullable<Text>,
        contact_email -> Nullable<Text>,
        spatial -> Nullable<Text>,
        temporal_start -> Nullable<Date>,
        temporal_end -> Nullable<Date>,
        update_frequency -> Text,
        languages -> Text,
        resource_code -> Nullable<Text>,
        sharing_class -> Text,
        opening_class -> Text,
        grade -> Text,
        licence_id -> Nullable<Text>,
        landing_page -> Nullable<Text>,
        status -> Text,
        version -> Integer,
        review_comment -> Nullable<Text>,
        search_text -> Text,
        created_at -> Timestamp,
        modified_at -> Timestamp,
        published_at -> Nullable<Timestamp>,
        translations -> Text,
    }
}

diesel::table! {
    /// Free keywords of a dataset.
    dataset_keywords (dataset_id, keyword) {
        dataset_id -> Text,
        keyword -> Text,
    }
}

diesel::table! {
    /// Themes (controlled vocabulary) of a dataset.
    dataset_themes (dataset_id, theme) {
        dataset_id -> Text,
        theme -> Text,
    }
}

diesel::table! {
    /// Files and API endpoints of datasets.
    distributions (id) {
        id -> Text,
        dataset_id -> Text,
        title -> Text,
        description -> Nullable<Text>,
        kind -> Text,
        format -> Text,
        media_type -> Text,
        byte_size -> Nullable<BigInt>,
        sha256 -> Nullable<Text>,
        storage_key -> Nullable<Text>,
        access_url -> Nullable<Text>,
        column_schema -> Nullable<Text>,
        created_at -> Timestamp,
        modified_at -> Timestamp,
        published_version -> Nullable<Integer>,
    }
}

diesel::table! {
    /// Snapshots of every published version of a dataset.
    dataset_versions (dataset_id, version) {
        dataset_id -> Text,
        version -> Integer,
        published_at -> Timestamp,
        published_by -> Text,
        snapshot -> Text,
    }
}

diesel::table! {
    /// A published dataset's pending revision (metadata as JSON, with changes to its published
    /// distributions), beside the published version the dataset's row keeps.
    dataset_revisions (dataset_id) {
        dataset_id -> Text,
        status -> Text,
        metadata -> Text,
        distribution_changes -> Text,
        review_comment -> Nullable<Text>,
        created_at -> Timestamp,
        modified_at -> Timestamp,
    }
}

diesel::table! {
    /// The catalog's change feed, in commit order: a dataset, an organisation or (neither) the
    /// whole catalog changed.
    catalog_changes (seq) {
        seq -> BigInt,
        dataset_id -> Nullable<Text>,
        organization_id -> Nullable<Text>,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    /// Generation counters of cached state (catalog, organisations, licensing): each bumped by
    /// every write to its state.
    state_generations (name) {
        name -> Text,
        generation -> BigInt,
    }
}

diesel::table! {
    /// What may be requested of a dataset: licence, purposes, term, quotas, fees.
    offers (dataset_id) {
        dataset_id -> Text,
        licence_id -> Text,
        purposes -> Text,
        max_term_days -> Integer,
        max_requests -> Nullable<BigInt>,
        max_bytes -> Nullable<BigInt>,
        max_rows -> Nullable<BigInt>,
        fee_per_request -> BigInt,
        fee_per_mb -> BigInt,
        updated_at -> Timestamp,
        column_rules -> Nullable<Text>,
    }
}

diesel::table! {
    /// Requests for access to datasets that are not plainly open.
    access_requests (id) {
        id -> Text,
        dataset_id -> Text,
        organization_id -> Text,
        user_id -> Text,
        purpose -> Text,
        statement -> Text,
        term_days -> Integer,
        status -> Text,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        decision_reason -> Nullable<Text>,
        grant_id -> Nullable<Text>,
        created_at -> Timestamp,
        distributions -> Text,
    }
}

diesel::table! {
    /// Agreements under which an organisation obtains a dataset.
    grants (id) {
        id -> Text,
        dataset_id -> Text,
        organization_id -> Text,
        licence_id -> Text,
        request_id -> Nullable<Text>,
        valid_from -> Timestamp,
        valid_until -> Timestamp,
        purposes -> Text,
        max_requests -> Nullable<BigInt>,
        max_bytes -> Nullable<BigInt>,
        max_rows -> Nullable<BigInt>,
        fee_per_request -> BigInt,
        fee_per_mb -> BigInt,
        status -> Text,
        status_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        distributions -> Text,
        expiry_recorded -> Bool,
        column_rules -> Nullable<Text>,
    }
}

diesel::table! {
    /// The circulation ledger's entries, by sequence number.
    ledger_entries (seq) {
        seq -> BigInt,
        recorded_at -> Timestamp,
        kind -> Text,
        decision -> Text,
        organization_id -> Nullable<Text>,
        dataset_id -> Nullable<Text>,
        grant_id -> Nullable<Text>,
        bytes -> BigInt,
        body -> Text,
        leaf_hash -> Text,
        actor_user_id -> Nullable<Text>,
        reason -> Nullable<Text>,
        purpose -> Nullable<Text>,
    }
}

diesel::table! {
    /// Running usage per grant, maintained by the appender with the entries it counts.
    ledger_usage (grant_id) {
        grant_id -> Text,
        requests -> BigInt,
        bytes -> BigInt,
        rows_served -> BigInt,
        fee -> BigInt,
    }
}

diesel::table! {
    /// Access tokens issued before a subject's instant are no longer accepted.
    access_revocations (subject) {
        subject -> Text,
        valid_after -> Timestamp,
    }
}

diesel::table! {
    /// Idempotency keys per grant and the receipt of their first request.
    ledger_idempotency (grant_id, idempotency_key) {
        grant_id -> Text,
        idempotency_key -> Text,
        seq -> BigInt,
        fingerprint -> Nullable<Text>,
        range_first -> Nullable<BigInt>,
        range_last -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Every signed checkpoint, by tree size.
    ledger_checkpoints (size) {
        size -> BigInt,
        root_hash -> Text,
        note -> Text,
        signed_at -> Timestamp,
    }
}

diesel::table! {
    /// Usage per local day, dataset, provider, consumer, grant, purpose and outcome.
    ledger_rollups (day, dataset_id, provider_id, consumer_id, grant_id, purpose, outcome) {
        day -> Text,
        dataset_id -> Text,
        provider_id -> Text,
        consumer_id -> Text,
        grant_id -> Text,
        purpose -> Text,
        outcome -> Text,
        requests -> BigInt,
        bytes -> BigInt,
        rows_served -> BigInt,
        fee -> BigInt,
        first_seq -> BigInt,
        last_seq -> BigInt,
    }
}

diesel::table! {
    /// What appends added to the roll-ups and no fold has moved into `ledger_rollups` yet (no
    /// key in the database; a batch's row for one key has a unique `first_seq`).
    ledger_rollup_deltas (first_seq) {
        day -> Text,
        dataset_id -> Text,
        provider_id -> Text,
        consumer_id -> Text,
        grant_id -> Text,
        purpose -> Text,
        outcome -> Text,
        requests -> BigInt,
        bytes -> BigInt,
        rows_served -> BigInt,
        fee -> BigInt,
        first_seq -> BigInt,
        last_seq -> BigInt,
    }
}

diesel::table! {
    /// A view: the rows of `ledger_rollups` and of `ledger_rollup_deltas` together, read in one
    /// snapshot; a key may appear in several rows, whose figures add up.
    ledger_rollups_current (day, dataset_id, provider_id, consumer_id, grant_id, purpose, outcome, first_seq) {
        day -> Text,
        dataset_id -> Text,
        provider_id -> Text,
        consumer_id -> Text,
        grant_id -> Text,
        purpose -> Text,
        outcome -> Text,
        requests -> BigInt,
        bytes -> BigInt,
        rows_served -> BigInt,
        fee -> BigInt,
        first_seq -> BigInt,
        last_seq -> BigInt,
    }
}

diesel::table! {
    /// Agencies' annual disclosure reports made public.
    disclosures (organization_id, year) {
        organization_id -> Text,
        year -> Integer,
        public -> Bool,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    /// The time zone of the roll-ups' days.
    ledger_rollup_state (singleton) {
        singleton -> Integer,
        time_zone -> Text,
        rebuilt_at -> Timestamp,
    }
}

diesel::table! {
    /// The ledger's size; its row is locked by every append.
    ledger_head (singleton) {
        singleton -> Integer,
        size -> BigInt,
    }
}

diesel::joinable!(memberships -> organizations (organization_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(api_keys -> organizations (organization_id));
diesel::joinable!(datasets -> organizations (organization_id));
diesel::joinable!(dataset_keywords -> datasets (dataset_id));
diesel::joinable!(dataset_themes -> datasets (dataset_id));
diesel::joinable!(distributions -> datasets (dataset_id));
diesel::joinable!(dataset_versions -> datasets (dataset_id));
diesel::joinable!(dataset_revisions -> datasets (dataset_id));

diesel::table! {
    /// Ingestions of tabular distributions into queryable tables (pdx-rows).
    ingestions (id) {
        id -> Text,
        distribution_id -> Text,
        sha256 -> Text,
        state -> Text,
        options -> Text,
        table_columns -> Text,
        bytes_read -> BigInt,
        bytes_total -> BigInt,
        rows_loaded -> BigInt,
        rows_rejected -> BigInt,
        rejects -> Text,
        error -> Nullable<Text>,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Upstreams of API distributions (pdx-gateway).
    api_upstreams (distribution_id) {
        distribution_id -> Text,
        base_url -> Text,
        credential_kind -> Text,
        credential_name -> Nullable<Text>,
        credential_sealed -> Nullable<Text>,
        credential_set_at -> Nullable<Timestamp>,
        methods -> Text,
        paths -> Text,
        timeout_ms -> Integer,
        max_concurrency -> Integer,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// Server keys sealed under the master key (pdx-storage's vault).
    server_keys (id) {
        id -> Text,
        purpose -> Text,
        created_at -> Timestamp,
        active_from -> Timestamp,
        master_key_id -> Text,
        sealed -> Text,
    }
}

diesel::table! {
    /// Rate-limit counts of every server process, per scope, subject and window.
    rate_counts (scope, subject, window_start) {
        scope -> Text,
        subject -> Text,
        window_start -> BigInt,
        count -> BigInt,
    }
}

diesel::table! {
    /// Failed sign-ins per account and client address (both hashed), for every process.
    sign_in_failures (account, address) {
        account -> Text,
        address -> Text,
        failures -> BigInt,
        last_failure -> BigInt,
    }
}

diesel::table! {
    /// E-mail waiting for delivery, sealed, and which process is sending it now.
    mail_outbox (id) {
        id -> Text,
        sealed -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    /// Work one server process at a time does, and which process holds it.
    leases (name) {
        name -> Text,
        holder -> Text,
        acquired_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    /// The server processes running on this database, as each last announced itself.
    server_processes (name) {
        name -> Text,
        started_at -> Timestamp,
        seen_at -> Timestamp,
    }
}

diesel::table! {
    /// Upstreams whose circuit a server process opened, held open for every process.
    upstream_circuits (distribution_id) {
        distribution_id -> Text,
        configured_at -> Timestamp,
        open_until -> Timestamp,
        opened_by -> Text,
    }
}

diesel::joinable!(upstream_circuits -> api_upstreams (distribution_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_upstreams,
    upstream_circuits,
    server_processes,
    leases,
    rate_counts,
    server_keys,
    sign_in_failures,
    mail_outbox,
    ingestions,
    instance,
    organizations,
    users,
    memberships,
    refresh_tokens,
    web_sessions,
    api_keys,
    audit_events,
    licences,
    datasets,
    dataset_keywords,
    dataset_revisions,
    dataset_themes,
    distributions,
    dataset_versions,
    state_generations,
    catalog_changes,
    offers,
    access_requests,
    grants,
    ledger_entries,
    ledger_head,
    ledger_rollups,
    ledger_rollup_deltas,
    ledger_rollups_current,
    ledger_rollup_state,
    disclosures,
    ledger_usage,
    ledger_idempotency,
    access_revocations,
    ledger_checkpoints,
    account_tokens,
);
