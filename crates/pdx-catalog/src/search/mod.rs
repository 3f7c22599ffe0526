//! Catalog search: an embedded search engine (tantivy) over the published catalog, kept in
//! the data directory and following the database's change feed, with Chinese and English text
//! analysis, BM25 ranking, facet counts, highlights and suggestions.

pub mod analysis;
mod directory;
mod facets;
mod index;
mod query;

use std::collections::HashMap;

use serde::Serialize;

pub use index::{Opened, SearchIndex};

use crate::service::DatasetView;

/// How the index renders a published dataset for anyone to read: the API's JSON of it. The
/// index stores each dataset's rendering, so that searches and anonymous reads are answered
/// from the index without the database.
pub trait Render: Send + Sync + 'static {
    /// Names the rendering's format: an index rendered in another is rebuilt.
    fn version(&self) -> String;
    /// The public rendering of a published dataset: text (JSON), which the index reads back
    /// faster than bytes.
    fn render(&self, view: &DatasetView) -> String;
}

/// The dataset view as JSON, for indexes whose renderings nobody reads (tests, tools).
#[derive(Debug, Clone, Copy, Default)]
pub struct ViewJson;

impl Render for ViewJson {
    fn version(&self) -> String {
        "view-json/1".to_owned()
    }

    fn render(&self, view: &DatasetView) -> String {
        serde_json::to_string(view).unwrap_or_default()
    }
}

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
    /// Data grade.
    pub grade: Option<String>,
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
    /// By data grade.
    pub grade: Vec<FacetCount>,
    /// By licence.
    pub licence: Vec<FacetCount>,
    /// By keyword.
    pub keyword: Vec<FacetCount>,
}

/// The words of a dataset that matched a text query, marked up for display: HTML-escaped
/// text with each matched word in `<mark>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Highlight {
    /// The whole title.
    pub title: String,
    /// The passage of the description with the most matched words; empty when none matched.
    pub description: String,
    /// The same of the dataset's translations, by language (none within these).
    pub translations: std::collections::BTreeMap<String, Highlight>,
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
    /// Highlights by dataset id, when the query had text.
    pub highlights: HashMap<String, Highlight>,
    /// The public rendering of each dataset of the page ([`Render`]), in order.
    pub rendered: Vec<Vec<u8>>,
}

/// Completions for a search box.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Suggestions {
    /// Published datasets whose title matches what was typed, best first.
    pub datasets: Vec<SuggestedDataset>,
    /// Keywords of matching datasets that contain what was typed, most used first.
    pub keywords: Vec<FacetCount>,
}

/// A dataset offered as a completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuggestedDataset {
    /// Its id.
    pub id: String,
    /// Its slug.
    pub slug: String,
    /// Its title.
    pub title: String,
    /// The title with the typed words in `<mark>`, HTML-escaped.
    pub highlight: String,
}
