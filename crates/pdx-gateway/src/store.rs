//! The table `api_upstreams`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use pdx_core::{DistributionId, Timestamp};
use pdx_storage::DbConnection;
use pdx_storage::schema::api_upstreams;

use crate::error::GatewayError;
use crate::model::{Credential, Upstream};
use crate::paths::PathRule;
use crate::seal::Sealer;

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_upstreams)]
struct Row {
    distribution_id: String,
    base_url: String,
    credential_kind: String,
    credential_name: Option<String>,
    credential_sealed: Option<String>,
    credential_set_at: Option<NaiveDateTime>,
    methods: String,
    paths: String,
    timeout_ms: i32,
    max_concurrency: i32,
    updated_at: NaiveDateTime,
}

/// The upstream of a distribution, its credential opened; none when not configured.
pub(crate) fn find(
    conn: &mut DbConnection,
    sealer: &Sealer,
    id: DistributionId,
) -> Result<Option<Upstream>, GatewayError> {
    let row: Option<Row> = api_upstreams::table
        .find(id.to_string())
        .select(Row::as_select())
        .first(conn)
        .optional()?;
    row.map(|row| upstream(row, sealer, id)).transpose()
}

fn upstream(row: Row, sealer: &Sealer, id: DistributionId) -> Result<Upstream, GatewayError> {
    let corrupt = |what: &str| {
        GatewayError::Storage(pdx_storage::StorageError::CorruptRow(format!(
            "api_upstreams.{what}"
        )))
    };
    let credential = match &row.credential_sealed {
        Some(sealed) => sealer.open_sealed(sealed, &row.distribution_id)?,
        None => Credential::None,
    };
    let methods: Vec<String> =
        serde_json::from_str(&row.methods).map_err(|_| corrupt("methods"))?;
    let patterns: Vec<String> = serde_json::from_str(&row.paths).map_err(|_| corrupt("paths"))?;
    let paths = patterns
        .iter()
        .map(|p| PathRule::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| corrupt("paths"))?;
    Ok(Upstream {
        distribution_id: id,
        base_url: reqwest::Url::parse(&row.base_url).map_err(|_| corrupt("base_url"))?,
        credential,
        credential_set_at: row.credential_set_at.map(|t| t.and_utc()),
        methods,
        paths,
        timeout_ms: u32::try_from(row.timeout_ms).map_err(|_| corrupt("timeout_ms"))?,
        max_concurrency: u32::try_from(row.max_concurrency)
            .map_err(|_| corrupt("max_concurrency"))?,
        updated_at: row.updated_at.and_utc(),
    })
}

/// Writes an upstream's configuration, its credential sealed.
pub(crate) fn save(
    conn: &mut DbConnection,
    sealer: &Sealer,
    upstream: &Upstream,
) -> Result<(), GatewayError> {
    let id = upstream.distribution_id.to_string();
    let sealed = match &upstream.credential {
        Credential::None => None,
        credential => Some(sealer.seal(credential, &id)?),
    };
    let json = |list: &[String]| serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned());
    let row = Row {
        distribution_id: id,
        base_url: upstream.base_url.to_string(),
        credential_kind: upstream.credential.kind().to_owned(),
        credential_name: upstream.credential.name().map(str::to_owned),
        credential_sealed: sealed,
        credential_set_at: upstream.credential_set_at.map(|t: Timestamp| t.naive_utc()),
        methods: json(&upstream.methods),
        paths: json(
            &upstream
                .paths
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect::<Vec<_>>(),
        ),
        timeout_ms: i32::try_from(upstream.timeout_ms).unwrap_or(i32::MAX),
        max_concurrency: i32::try_from(upstream.max_concurrency).unwrap_or(i32::MAX),
        updated_at: upstream.updated_at.naive_utc(),
    };
    // Inside the caller's transaction: replaced whole.
    diesel::delete(api_upstreams::table.find(&row.distribution_id)).execute(conn)?;
    diesel::insert_into(api_upstreams::table)
        .values(&row)
        .execute(conn)?;
    Ok(())
}

/// Removes an upstream's configuration; whether there was one.
pub(crate) fn remove(conn: &mut DbConnection, id: DistributionId) -> Result<bool, GatewayError> {
    Ok(diesel::delete(api_upstreams::table.find(id.to_string())).execute(conn)? > 0)
}
