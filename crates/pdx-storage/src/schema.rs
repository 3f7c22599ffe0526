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
