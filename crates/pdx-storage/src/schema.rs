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

diesel::joinable!(memberships -> organizations (organization_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(api_keys -> organizations (organization_id));

diesel::allow_tables_to_appear_in_same_query!(
    instance,
    organizations,
    users,
    memberships,
    refresh_tokens,
    api_keys,
    audit_events,
);
