//! Catalog search with each backend's own full-text engine — SQLite FTS5 (bm25) and
//! PostgreSQL text search (GIN, ts_rank) — plus filters, facet counts, sorting and paging.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use pdx_storage::{DbConnection, MultiBackend};
use serde::Serialize;

use crate::error::CatalogError;
use crate::model::DatasetStatus;
use crate::text::{Token, query_tokens};

/// How results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Best match first (newest first without a text query).
    #[default]
    Relevance,
    /// Most recently modified first.
    Modified,
    /// By title.
    Title,
}

/// A search: optional text, filters, order and page.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Full-text query.
    pub text: Option<String>,
    /// Theme code.
    pub theme: Option<String>,
    /// Keyword.
    pub keyword: Option<String>,
    /// Distribution format, e.g. `CSV`.
    pub format: Option<String>,
    /// Publishing organisation id.
    pub publisher: Option<String>,
    /// Opening class.
    pub opening_class: Option<String>,
    /// Sharing class.
    pub sharing_class: Option<String>,
    /// Licence id.
    pub licence: Option<String>,
    /// Only datasets modified at or after this instant.
    pub modified_since: Option<chrono::NaiveDateTime>,
    /// Order.
    pub sort: Sort,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return.
    pub limit: i64,
    /// Values per facet (0: no facets).
    pub facet_limit: i64,
}

/// One facet value and how many matching datasets have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FacetCount {
    /// The value (a theme code, organisation id, format, …).
    pub value: String,
    /// Matching datasets with it.
    pub count: i64,
    /// What the value names, for people: an organisation's name, a theme's or a licence's
    /// title; none where the value speaks for itself.
    pub name: Option<String>,
}

/// Facet counts over the matching datasets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Facets {
    /// By theme.
    pub theme: Vec<FacetCount>,
    /// By publishing organisation id.
    pub publisher: Vec<FacetCount>,
    /// By distribution format.
    pub format: Vec<FacetCount>,
    /// By opening class.
    pub opening_class: Vec<FacetCount>,
    /// By sharing class.
    pub sharing_class: Vec<FacetCount>,
    /// By licence.
    pub licence: Vec<FacetCount>,
    /// By keyword.
    pub keyword: Vec<FacetCount>,
}

/// A page of matching dataset ids, the total and the facets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchHits {
    /// Dataset ids of this page, in order.
    pub ids: Vec<String>,
    /// How many match in all.
    pub total: i64,
    /// Facet counts over all matches.
    pub facets: Facets,
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    id: String,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct FacetRow {
    #[diesel(sql_type = Text)]
    value: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct ColumnGroup {
    #[diesel(sql_type = Text)]
    organization_id: String,
    #[diesel(sql_type = Text)]
    opening_class: String,
    #[diesel(sql_type = Text)]
    sharing_class: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    licence_id: Option<String>,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The `limit` most frequent values, most frequent first, ties by value.
fn top(tally: BTreeMap<String, i64>, limit: i64) -> Vec<FacetCount> {
    let mut counts: Vec<FacetCount> = tally
        .into_iter()
        .map(|(value, count)| FacetCount {
            value,
            count,
            name: None,
        })
        .collect();
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    counts.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    counts
}

/// The matching set as SQL producing `(id, score)`, and its bind values in order.
struct Matched {
    sql: String,
    binds: Vec<String>,
}

impl Matched {
    fn build(conn: &DbConnection, query: &SearchQuery) -> Option<Self> {
        let mut binds: Vec<String> = Vec::new();
        let mut bind = |value: &str| {
            binds.push(value.to_owned());
            format!("${}", binds.len())
        };
        let tokens = query.text.as_deref().map(query_tokens).unwrap_or_default();
        let text_given = query.text.as_deref().is_some_and(|t| !t.trim().is_empty());
        if text_given && tokens.is_empty() {
            // Only punctuation: nothing can match.
            return None;
        }
        let mut sql = if tokens.is_empty() {
            "SELECT d.id AS id, 0.0 AS score FROM datasets d WHERE ".to_owned()
        } else {
            match conn {
                DbConnection::Sqlite(_) => {
                    let expression = tokens
                        .iter()
                        .map(|t| match t {
                            Token::Word(w) => format!("\"{w}\"*"),
                            Token::Cjk(c) => format!("\"{c}\""),
                        })
                        .collect::<Vec<_>>()
                        .join(" ");
                    let p = bind(&expression);
                    format!(
                        "SELECT d.id AS id, -bm25(dataset_fts) AS score FROM dataset_fts \
                         JOIN datasets d ON d.id = dataset_fts.dataset_id \
                         WHERE dataset_fts MATCH {p} AND "
                    )
                }
                DbConnection::Postgres(_) => {
                    let expression = tokens
                        .iter()
                        .map(|t| match t {
                            Token::Word(w) => format!("{w}:*"),
                            Token::Cjk(c) => c.clone(),
                        })
                        .collect::<Vec<_>>()
                        .join(" & ");
                    let p = bind(&expression);
                    format!(
                        "SELECT d.id AS id, ts_rank(d.search_vector, q) AS score \
                         FROM datasets d, to_tsquery('simple', {p}) q \
                         WHERE d.search_vector @@ q AND "
                    )
                }
            }
        };
        let mut conditions = vec![format!(
            "d.status = {}",
            bind(DatasetStatus::Published.as_str())
        )];
        if let Some(theme) = &query.theme {
            conditions.push(format!(
                "d.id IN (SELECT dataset_id FROM dataset_themes WHERE theme = {})",
                bind(theme)
            ));
        }
        if let Some(keyword) = &query.keyword {
            conditions.push(format!(
                "d.id IN (SELECT dataset_id FROM dataset_keywords WHERE keyword = {})",
                bind(keyword)
            ));
        }
        if let Some(format) = &query.format {
            conditions.push(format!(
                "d.id IN (SELECT dataset_id FROM distributions WHERE format = {} \
                 AND published_version IS NOT NULL)",
                bind(format)
            ));
        }
        for (column, value) in [
            ("d.organization_id", &query.publisher),
            ("d.opening_class", &query.opening_class),
            ("d.sharing_class", &query.sharing_class),
            ("d.licence_id", &query.licence),
        ] {
            if let Some(value) = value {
                conditions.push(format!("{column} = {}", bind(value)));
            }
        }
        if let Some(since) = query.modified_since {
            // Compared as text on SQLite (ISO format sorts), as timestamp on PostgreSQL.
            let value = since.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
            let p = bind(&value);
            conditions.push(match conn {
                DbConnection::Sqlite(_) => format!("d.modified_at >= {p}"),
                DbConnection::Postgres(_) => format!("d.modified_at >= CAST({p} AS TIMESTAMP)"),
            });
        }
        sql.push_str(&conditions.join(" AND "));
        Some(Self { sql, binds })
    }

    fn query(
        &self,
        sql: String,
    ) -> diesel::query_builder::BoxedSqlQuery<'static, MultiBackend, diesel::query_builder::SqlQuery>
    {
        let mut query = diesel::sql_query(sql).into_boxed::<MultiBackend>();
        for value in &self.binds {
            query = query.bind::<Text, _>(value.clone());
        }
        query
    }
}

/// Runs a search over published datasets.
pub fn search(conn: &mut DbConnection, query: &SearchQuery) -> Result<SearchHits, CatalogError> {
    let Some(matched) = Matched::build(conn, query) else {
        return Ok(SearchHits::default());
    };
    let order = match (
        query.sort,
        query.text.as_deref().is_some_and(|t| !t.trim().is_empty()),
    ) {
        (Sort::Relevance, true) => "m.score DESC, d.modified_at DESC, d.id",
        (Sort::Relevance | Sort::Modified, _) => "d.modified_at DESC, d.id",
        (Sort::Title, _) => "d.title ASC, d.id",
    };
    let page_sql = format!(
        "SELECT m.id AS id FROM ({}) m JOIN datasets d ON d.id = m.id ORDER BY {order} LIMIT {} OFFSET {}",
        matched.sql,
        query.limit.max(0),
        query.offset.max(0)
    );
    let ids: Vec<IdRow> = matched.query(page_sql).load(conn)?;
    let count_sql = format!("SELECT COUNT(*) AS n FROM ({}) m", matched.sql);
    let total = matched.query(count_sql).get_result::<CountRow>(conn)?.n;

    let mut facets = Facets::default();
    if query.facet_limit > 0 && total > 0 {
        let within = format!("SELECT id FROM ({}) m", matched.sql);
        let limit = query.facet_limit;
        let mut facet =
            |select: &str, from: &str, key: &str| -> Result<Vec<FacetCount>, CatalogError> {
                let sql = format!(
                    "SELECT {select} AS value, COUNT(DISTINCT {key}) AS n FROM {from} \
                 WHERE {key} IN ({within}) AND {select} IS NOT NULL \
                 GROUP BY {select} ORDER BY n DESC, value ASC LIMIT {limit}"
                );
                let rows: Vec<FacetRow> = matched.query(sql).load(conn)?;
                Ok(rows
                    .into_iter()
                    .map(|r| FacetCount {
                        value: r.value,
                        count: r.n,
                        name: None,
                    })
                    .collect())
            };
        facets.theme = facet("theme", "dataset_themes", "dataset_id")?;
        facets.keyword = facet("keyword", "dataset_keywords", "dataset_id")?;
        // Only distributions a published version holds: one added in a pending revision is not
        // in the catalog yet.
        facets.format = facet(
            "format",
            "(SELECT dataset_id, format FROM distributions WHERE published_version IS NOT NULL) f",
            "dataset_id",
        )?;
        // The four facets that are columns of `datasets` come from one grouped scan.
        let sql = format!(
            "SELECT d.organization_id AS organization_id, d.opening_class AS opening_class, \
             d.sharing_class AS sharing_class, d.licence_id AS licence_id, COUNT(*) AS n \
             FROM datasets d WHERE d.id IN ({within}) \
             GROUP BY d.organization_id, d.opening_class, d.sharing_class, d.licence_id"
        );
        let groups: Vec<ColumnGroup> = matched.query(sql).load(conn)?;
        let mut tallies: [BTreeMap<String, i64>; 4] = Default::default();
        for group in groups {
            let values = [
                Some(group.organization_id),
                Some(group.opening_class),
                Some(group.sharing_class),
                group.licence_id,
            ];
            for (tally, value) in tallies.iter_mut().zip(values) {
                if let Some(value) = value {
                    *tally.entry(value).or_default() += group.n;
                }
            }
        }
        let [publisher, opening, sharing, licence] = tallies.map(|tally| top(tally, limit));
        facets.publisher = publisher;
        facets.opening_class = opening;
        facets.sharing_class = sharing;
        facets.licence = licence;
    }
    Ok(SearchHits {
        ids: ids.into_iter().map(|r| r.id).collect(),
        total,
        facets,
    })
}
