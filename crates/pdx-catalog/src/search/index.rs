//! The search index: one document per published dataset (its public face), kept in a
//! directory of its own and following the catalog's change feed. The index records, with each
//! commit, the database it follows and the last change it holds, so a restart opens it and
//! catches up; an index that is missing, unreadable, of another schema or of another database
//! is rebuilt from the database.

use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use pdx_storage::feed::{self, CatalogChange};
use pdx_storage::{DbConnection, instance};
use serde::{Deserialize, Serialize};
use tantivy::collector::{Count, TopDocs};
use tantivy::directory::error::LockError;
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query};
use tantivy::schema::document::{DeserializeError, DocumentDeserialize, DocumentDeserializer};
use tantivy::schema::{
    FAST, FacetOptions, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Searcher, TantivyDocument,
    TantivyError, Term,
};

use super::analysis::{self, ANALYZER};
use super::directory::IndexDirectory;
use super::facets::{FacetCounter, FacetTables, FacetTally};
use super::query::{self, FilterFields, Mode, TextFields};
use super::{
    FacetCount, Facets, Highlight, Render, SearchHits, SearchQuery, Sort, SuggestedDataset,
    Suggestions,
};
use crate::error::CatalogError;
use crate::model::Translations;
use crate::service::{DatasetView, public_views};
use crate::store;
use crate::vocabulary;

/// Changes with the index's layout or its analysis (the dictionary); an index of another is rebuilt.
const SCHEMA_VERSION: u32 = 4;
/// Memory for documents being indexed before they are written out.
const WRITER_MEMORY: usize = 16 * 1024 * 1024;
/// Datasets loaded from the database at a time while indexing.
const BATCH: i64 = 500;
/// Feed entries read at a time.
const FEED_BATCH: i64 = 1_000;
/// The facet dimensions, in the order of [`Facets`]'s fields.
const DIMENSIONS: [&str; 8] = [
    "theme",
    "publisher",
    "format",
    "opening_class",
    "sharing_class",
    "grade",
    "licence",
    "keyword",
];
/// Characters of description around the matched words in a highlight.
const DESCRIPTION_SNIPPET_CHARS: usize = 240;
/// Titles are shown whole in highlights up to this many characters.
const TITLE_SNIPPET_CHARS: usize = 500;

/// The index's fields.
#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    slug: Field,
    title: Field,
    description: Field,
    text: Field,
    facets: Field,
    modified: Field,
    title_sort: Field,
    public: Field,
    translations: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = |stored: bool| {
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions);
        let options = TextOptions::default().set_indexing_options(indexing);
        if stored {
            options.set_stored()
        } else {
            options
        }
    };
    let fields = Fields {
        id: builder.add_text_field("id", STRING | STORED),
        slug: builder.add_text_field("slug", STRING | STORED),
        title: builder.add_text_field("title", text(true)),
        description: builder.add_text_field("description", STORED),
        text: builder.add_text_field("text", text(false)),
        facets: builder.add_facet_field("facets", FacetOptions::default()),
        modified: builder.add_i64_field("modified", INDEXED | FAST),
        title_sort: builder.add_text_field("title_sort", STRING | FAST),
        public: builder.add_text_field("public", STORED),
        translations: builder.add_text_field("translations", STORED),
    };
    (builder.build(), fields)
}

/// The index's settings: documents (about 2 KB each, mostly the rendered JSON) are stored in
/// blocks of 8 KB, so reading the twenty of a page decompresses little more than them.
fn settings() -> tantivy::IndexSettings {
    tantivy::IndexSettings {
        docstore_blocksize: 8192,
        ..tantivy::IndexSettings::default()
    }
}

/// What an index's commit records: the layout, the database and the last change it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    schema: u32,
    render: String,
    instance: String,
    feed: i64,
}

/// How an index was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// From its directory, as last committed.
    Existing,
    /// New and empty: nothing was there.
    Created,
    /// New and empty, replacing what could not be used (the reason).
    Replaced(String),
    /// In memory: the directory is another process's (the reason).
    InMemory(String),
}

/// The catalog's search index in one server process.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    /// The last feed sequence number the index holds; negative until it is built.
    applied: AtomicI64,
    /// The database the index was built from, when known.
    instance: Mutex<Option<String>>,
    location: Option<PathBuf>,
    render: Arc<dyn Render>,
    /// Publishers' names by organisation id, as the documents hold them (facet names).
    publishers: RwLock<HashMap<String, String>>,
    /// Every document's facet values, segment by segment, for counting them.
    facets: Arc<FacetTables>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("location", &self.location)
            .field("applied", &self.applied)
            .finish_non_exhaustive()
    }
}

fn engine(error: TantivyError) -> CatalogError {
    CatalogError::Search(error.to_string())
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it (empty, to be built) when there is none or what is
    /// there cannot be used; in memory when another process holds the directory.
    pub fn open(dir: &Path, render: Arc<dyn Render>) -> Result<(Self, Opened), CatalogError> {
        let (schema, _) = schema();
        let existing = dir.join("meta.json").exists();
        let mut opened = if existing {
            Opened::Existing
        } else {
            Opened::Created
        };
        let index = match existing.then(|| Index::open(IndexDirectory::open(dir)?)) {
            Some(Ok(index)) if index.schema() == schema && *index.settings() == settings() => index,
            other => {
                if let Some(result) = other {
                    let reason = match result {
                        Ok(_) => "its schema or settings differ".to_owned(),
                        Err(error) => error.to_string(),
                    };
                    opened = Opened::Replaced(reason);
                }
                if dir.exists() {
                    std::fs::remove_dir_all(dir)
                        .map_err(|e| CatalogError::Search(format!("{}: {e}", dir.display())))?;
                }
                std::fs::create_dir_all(dir)
                    .map_err(|e| CatalogError::Search(format!("{}: {e}", dir.display())))?;
                let directory = IndexDirectory::open(dir)
                    .map_err(|e| CatalogError::Search(format!("{}: {e}", dir.display())))?;
                Index::create(directory, schema, settings()).map_err(engine)?
            }
        };
        match Self::with_index(index, Some(dir.to_owned()), render.clone()) {
            Ok(search) => {
                if opened == Opened::Existing {
                    search.read_stamp();
                }
                Ok((search, opened))
            }
            Err(TantivyError::LockFailure(LockError::LockBusy, _)) => {
                let reason = format!("{} is in use by another process", dir.display());
                Ok((Self::in_memory(render)?, Opened::InMemory(reason)))
            }
            Err(error) => Err(engine(error)),
        }
    }

    /// An empty index in memory, to be built.
    pub fn in_memory(render: Arc<dyn Render>) -> Result<Self, CatalogError> {
        let (schema, _) = schema();
        let index = Index::builder()
            .schema(schema)
            .settings(settings())
            .create_in_ram()
            .map_err(engine)?;
        Self::with_index(index, None, render).map_err(engine)
    }

    fn with_index(
        index: Index,
        location: Option<PathBuf>,
        render: Arc<dyn Render>,
    ) -> Result<Self, TantivyError> {
        index.tokenizers().register(ANALYZER, analysis::analyzer());
        let (_, fields) = schema();
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        let facets = Arc::new(FacetTables::new("facets", &DIMENSIONS));
        let warmer: Arc<dyn tantivy::Warmer> = facets.clone();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .warmers(vec![Arc::downgrade(&warmer)])
            .try_into()?;
        Ok(Self {
            index,
            reader,
            writer: Mutex::new(writer),
            fields,
            applied: AtomicI64::new(-1),
            instance: Mutex::new(None),
            location,
            render,
            publishers: RwLock::default(),
            facets,
        })
    }

    /// Reads what the last commit recorded.
    fn read_stamp(&self) {
        let stamp = self
            .index
            .load_metas()
            .ok()
            .and_then(|metas| metas.payload)
            .and_then(|payload| serde_json::from_str::<Stamp>(&payload).ok());
        let render = self.render.version();
        if let Some(stamp) = stamp.filter(|s| s.schema == SCHEMA_VERSION && s.render == render) {
            self.applied.store(stamp.feed, Ordering::SeqCst);
            *self.instance.lock().unwrap_or_else(PoisonError::into_inner) = Some(stamp.instance);
        }
    }

    /// Where the index lives; none when in memory.
    pub fn location(&self) -> Option<&Path> {
        self.location.as_deref()
    }

    /// The last change of the feed the index holds; negative before it is built.
    pub fn applied(&self) -> i64 {
        self.applied.load(Ordering::SeqCst)
    }

    /// Published datasets in the index.
    pub fn documents(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Makes the index current: rebuilds it when it was never built, was built from another
    /// database, is ahead of the feed (a database restored from an older backup) or behind
    /// what the feed still holds (offline longer than the feed keeps changes), else
    /// applies the changes since it was last committed. `progress` hears of a rebuild as it
    /// goes (datasets indexed so far, and in all). Returns whether it rebuilt.
    pub fn prepare(
        &self,
        conn: &mut DbConnection,
        progress: &dyn Fn(u64, u64),
    ) -> Result<bool, CatalogError> {
        let database = instance::load(conn)?.id.to_string();
        let known = self
            .instance
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // Changes after the index's last one have been pruned from the feed: it cannot catch
        // up.
        let pruned = feed::earliest(conn)?.is_some_and(|earliest| earliest > self.applied() + 1);
        let stale = self.applied() < 0
            || known.as_deref() != Some(database.as_str())
            || self.applied() > feed::latest(conn)?
            || pruned;
        if stale {
            self.rebuild(conn, progress)?;
        } else {
            self.follow(conn)?;
        }
        Ok(stale)
    }

    /// Rebuilds the index from the published catalog.
    pub fn rebuild(
        &self,
        conn: &mut DbConnection,
        progress: &dyn Fn(u64, u64),
    ) -> Result<u64, CatalogError> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let indexed = self.rebuild_locked(&mut writer, conn, progress)?;
        self.reader.reload().map_err(engine)?;
        Ok(indexed)
    }

    fn rebuild_locked(
        &self,
        writer: &mut IndexWriter,
        conn: &mut DbConnection,
        progress: &dyn Fn(u64, u64),
    ) -> Result<u64, CatalogError> {
        // The feed's head is read first: changes committed while the catalog is read are
        // applied again afterwards, which is harmless.
        let head = feed::latest(conn)?;
        let database = instance::load(conn)?.id.to_string();
        let total = store::published_count(conn)?;
        writer.delete_all_documents().map_err(engine)?;
        self.publishers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let (mut after, mut indexed) = (String::new(), 0u64);
        loop {
            let ids = store::published_ids_after(conn, &after, BATCH)?;
            let Some(last) = ids.last() else { break };
            after = last.clone();
            for view in public_views(conn, &ids)? {
                writer.add_document(self.document(&view)).map_err(engine)?;
                indexed += 1;
            }
            progress(indexed, total);
        }
        // A freshly built index is read far more than written: one segment answers fastest.
        // Background merges pause meanwhile, so that they take none of the segments merged.
        writer.set_merge_policy(Box::new(tantivy::merge_policy::NoMergePolicy));
        let built = self.commit(writer, head, &database).and_then(|()| {
            let segments = self.index.searchable_segment_ids().map_err(engine)?;
            if segments.len() > 1 {
                writer.merge(&segments).wait().map_err(engine)?;
            }
            Ok(())
        });
        writer.set_merge_policy(Box::new(tantivy::merge_policy::LogMergePolicy::default()));
        built?;
        drop(writer.garbage_collect_files().wait());
        Ok(indexed)
    }

    fn commit(
        &self,
        writer: &mut IndexWriter,
        feed: i64,
        database: &str,
    ) -> Result<(), CatalogError> {
        let stamp = Stamp {
            schema: SCHEMA_VERSION,
            render: self.render.version(),
            instance: database.to_owned(),
            feed,
        };
        let payload = serde_json::to_string(&stamp)
            .map_err(|e| CatalogError::Search(format!("index stamp: {e}")))?;
        let mut prepared = writer.prepare_commit().map_err(engine)?;
        prepared.set_payload(&payload);
        prepared.commit().map_err(engine)?;
        self.applied.store(feed, Ordering::SeqCst);
        *self.instance.lock().unwrap_or_else(PoisonError::into_inner) = Some(stamp.instance);
        Ok(())
    }

    /// Applies the feed's changes since the index was last committed, whichever process made
    /// them; returns how many changes it applied.
    /// Does nothing before the index is built ([`SearchIndex::prepare`]).
    pub fn follow(&self, conn: &mut DbConnection) -> Result<usize, CatalogError> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut applied = 0;
        if self.applied() < 0 {
            return Ok(0);
        }
        loop {
            let entries = feed::after(conn, self.applied(), FEED_BATCH)?;
            let Some(last) = entries.last().map(|e| e.seq) else {
                break;
            };
            applied += entries.len();
            if entries
                .iter()
                .any(|e| e.change == CatalogChange::Everything)
            {
                tracing::info!("search index: rebuild asked for through the change feed");
                self.rebuild_locked(&mut writer, conn, &|indexed, total| {
                    tracing::info!(indexed, total, "search index: rebuilding");
                })?;
                continue;
            }
            let mut datasets: BTreeSet<String> = BTreeSet::new();
            for entry in entries {
                match entry.change {
                    CatalogChange::Dataset(id) => {
                        datasets.insert(id);
                    }
                    CatalogChange::Organization(id) => {
                        datasets.extend(store::dataset_ids_of(conn, &id)?);
                    }
                    CatalogChange::Everything => {}
                }
            }
            let ids: Vec<String> = datasets.into_iter().collect();
            for chunk in ids.chunks(usize::try_from(BATCH).unwrap_or(500)) {
                for id in chunk {
                    writer.delete_term(Term::from_field_text(self.fields.id, id));
                }
                for view in public_views(conn, chunk)? {
                    writer.add_document(self.document(&view)).map_err(engine)?;
                }
            }
            let database = instance::load(conn)?.id.to_string();
            self.commit(&mut writer, last, &database)?;
        }
        if applied > 0 {
            self.reader.reload().map_err(engine)?;
        }
        Ok(applied)
    }

    /// The document of a published dataset.
    fn document(&self, view: &DatasetView) -> TantivyDocument {
        let f = self.fields;
        let dataset = &view.dataset;
        self.publishers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(view.publisher.id.to_string(), view.publisher.name.clone());
        let mut doc = TantivyDocument::new();
        doc.add_text(f.public, self.render.render(view));
        doc.add_text(f.id, dataset.id.to_string());
        doc.add_text(f.slug, &dataset.slug);
        doc.add_text(f.title, &dataset.title);
        doc.add_text(f.title_sort, &dataset.title);
        doc.add_text(f.description, &dataset.description);
        // Everything a visitor may look for, the title included, in one field.
        doc.add_text(f.text, &dataset.title);
        // Translated titles weigh as titles (the stored first title stays the dataset's own);
        // the translations are kept whole for marking them in hits.
        if !dataset.translations.is_empty()
            && let Ok(translations) = serde_json::to_string(&dataset.translations)
        {
            doc.add_text(f.translations, translations);
        }
        for translation in dataset.translations.values() {
            doc.add_text(f.title, &translation.title);
            doc.add_text(f.text, &translation.title);
            doc.add_text(f.text, &translation.description);
        }
        for keyword in &dataset.keywords {
            doc.add_text(f.text, keyword);
        }
        doc.add_text(f.text, &dataset.description);
        doc.add_text(f.text, &view.publisher.name);
        if let Some(spatial) = &dataset.spatial {
            doc.add_text(f.text, spatial);
        }
        for code in &dataset.themes {
            if let Some(theme) = vocabulary::theme(code) {
                doc.add_text(f.text, theme.label_zh);
                doc.add_text(f.text, theme.label_en);
            }
        }
        for distribution in &view.distributions {
            doc.add_text(f.text, &distribution.title);
        }
        doc.add_i64(f.modified, dataset.modified_at.timestamp_micros());
        let mut facets: BTreeSet<(&str, String)> = BTreeSet::new();
        for theme in &dataset.themes {
            facets.insert(("theme", theme.clone()));
        }
        for keyword in &dataset.keywords {
            facets.insert(("keyword", keyword.clone()));
        }
        for distribution in &view.distributions {
            facets.insert(("format", distribution.format.clone()));
        }
        let class = &dataset.classification;
        facets.insert(("publisher", dataset.organization_id.to_string()));
        facets.insert(("opening_class", class.opening.as_str().to_owned()));
        facets.insert(("sharing_class", class.sharing.as_str().to_owned()));
        facets.insert(("grade", class.grade.as_str().to_owned()));
        if let Some(licence) = &dataset.licence {
            facets.insert(("licence", licence.clone()));
        }
        for (dimension, value) in facets {
            doc.add_facet(f.facets, query::facet(dimension, &value));
        }
        doc
    }

    /// The analyser of every text field (see [`analysis`]).
    fn analyzer(&self) -> Result<tantivy::tokenizer::TextAnalyzer, CatalogError> {
        self.index
            .tokenizer_for_field(self.fields.title)
            .map_err(engine)
    }

    /// The fields text is looked for in: the title weighs most.
    fn text_fields(&self) -> [(Field, f32); 2] {
        [(self.fields.title, 3.0), (self.fields.text, 1.0)]
    }

    /// The query for a search; `None` when its text can match nothing.
    fn query(
        &self,
        search: &SearchQuery,
        mode: Mode,
    ) -> Result<Option<Box<dyn Query>>, CatalogError> {
        let filter_fields = FilterFields {
            facets: self.fields.facets,
            modified: self.fields.modified,
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = query::filters(filter_fields, search)
            .into_iter()
            .map(|q| (Occur::Must, q))
            .collect();
        if let Some(text) = search.text.as_deref().filter(|t| !t.trim().is_empty()) {
            let mut analyzer = self.analyzer()?;
            let weighted = self.text_fields();
            match query::text_query(&mut analyzer, TextFields(&weighted), text, mode) {
                Some(text) => clauses.push((Occur::Must, text)),
                None => return Ok(None),
            }
        }
        Ok(Some(if clauses.is_empty() {
            Box::new(AllQuery)
        } else {
            Box::new(BooleanQuery::new(clauses))
        }))
    }

    /// Searches the published catalog.
    /// Searches the published catalog: words as typed, or, when they find nothing, forgiving
    /// a typo and completing the last word of a short query.
    pub fn search(&self, search: &SearchQuery) -> Result<SearchHits, CatalogError> {
        let hits = self.search_in(search, Mode::Strict)?;
        let forgivable = |text: &str| -> Result<bool, CatalogError> {
            let mut analyzer = self.analyzer()?;
            Ok(query::forgivable(&mut analyzer, text))
        };
        match search.text.as_deref() {
            Some(text) if hits.total == 0 && forgivable(text)? => {
                self.search_in(search, Mode::Forgiving)
            }
            _ => Ok(hits),
        }
    }

    fn search_in(&self, search: &SearchQuery, mode: Mode) -> Result<SearchHits, CatalogError> {
        let Some(query) = self.query(search, mode)? else {
            return Ok(SearchHits::default());
        };
        let searcher = self.reader.searcher();
        let has_text = search.text.as_deref().is_some_and(|t| !t.trim().is_empty());
        let limit = usize::try_from(search.limit.max(0)).unwrap_or(0);
        let offset = usize::try_from(search.offset.max(0)).unwrap_or(0);
        let top = TopDocs::with_limit(limit.max(1)).and_offset(offset);
        let facets = (search.facet_limit > 0).then(|| self.facets.counter());
        let (addresses, total, counts) = match (search.sort, has_text) {
            (Sort::Relevance, true) => collect(&searcher, &query, top.order_by_score(), facets)?,
            (Sort::Relevance | Sort::Modified, _) => {
                let top = top.order_by_fast_field::<i64>("modified", Order::Desc);
                collect(&searcher, &query, top, facets)?
            }
            (Sort::Title, _) => {
                let top = top.order_by_string_fast_field("title_sort", Order::Asc);
                collect(&searcher, &query, top, facets)?
            }
        };
        let addresses = if limit == 0 { Vec::new() } else { addresses };
        let mut hits = SearchHits {
            total: i64::try_from(total).unwrap_or(i64::MAX),
            facets: counts
                .map(|counts| facet_counts(&self.facets, &counts, search.facet_limit))
                .unwrap_or_default(),
            ..SearchHits::default()
        };
        let snippets = if has_text {
            // The title's words weigh by rarity, as the engine's own snippets weigh them.
            let mut title_terms = BTreeMap::new();
            let mut text_terms = BTreeMap::new();
            let mut unknown = None;
            query.query_terms(&mut |term, _| {
                let value = term.value();
                let Some(text) = value.as_str() else {
                    return;
                };
                if term.field() == self.fields.title {
                    match searcher.doc_freq(term) {
                        Ok(0) => {}
                        Ok(found) => {
                            title_terms.insert(text.to_owned(), 1.0 / (1.0 + found as f32));
                        }
                        Err(error) => unknown = Some(error),
                    }
                } else if term.field() == self.fields.text {
                    // The description is searched as part of `text`: its words are the query's there.
                    text_terms.insert(text.to_owned(), 1.0);
                }
            });
            if let Some(error) = unknown {
                return Err(engine(error));
            }
            let marking = |terms: BTreeMap<String, f32>, field, chars| {
                let marker = analysis::marker(terms.keys().map(String::as_str));
                SnippetGenerator::new(terms, marker, field, chars)
            };
            let title = marking(title_terms, self.fields.title, TITLE_SNIPPET_CHARS);
            let description = marking(
                text_terms,
                self.fields.description,
                DESCRIPTION_SNIPPET_CHARS,
            );
            Some((title, description))
        } else {
            None
        };
        for address in addresses {
            let mut doc: Stored = searcher.doc(address).map_err(engine)?;
            let Some(id) = doc.text(self.fields.id) else {
                continue;
            };
            if let Some((title_marks, description_marks)) = &snippets {
                let mark = |title: &str, description: &str| Highlight {
                    title: marked(title_marks, title, TITLE_SNIPPET_CHARS)
                        .unwrap_or_else(|| escape(title)),
                    description: marked(description_marks, description, DESCRIPTION_SNIPPET_CHARS)
                        .unwrap_or_default(),
                    translations: BTreeMap::new(),
                };
                let title = doc.text(self.fields.title).unwrap_or_default();
                let description = doc.text(self.fields.description).unwrap_or_default();
                let mut highlight = mark(&title, &description);
                let translations: Translations = doc
                    .text(self.fields.translations)
                    .and_then(|json| serde_json::from_str(&json).ok())
                    .unwrap_or_default();
                for (language, translation) in translations {
                    let marked = mark(&translation.title, &translation.description);
                    highlight.translations.insert(language, marked);
                }
                hits.highlights.insert(id.clone(), highlight);
            }
            hits.rendered.push(
                doc.text(self.fields.public)
                    .unwrap_or_default()
                    .into_bytes(),
            );
            hits.ids.push(id);
        }
        Ok(hits)
    }

    /// The public rendering of a published dataset, by id or slug; none when it is not in
    /// the index (not published, or unknown).
    pub fn rendered(&self, id_or_slug: &str) -> Result<Option<Vec<u8>>, CatalogError> {
        let searcher = self.reader.searcher();
        for field in [self.fields.id, self.fields.slug] {
            let query = tantivy::query::TermQuery::new(
                Term::from_field_text(field, id_or_slug),
                IndexRecordOption::Basic,
            );
            let found = searcher
                .search(&query, &TopDocs::with_limit(1).order_by_score())
                .map_err(engine)?;
            if let Some((_, address)) = found.first() {
                let mut doc: Stored = searcher.doc(*address).map_err(engine)?;
                return Ok(Some(
                    doc.text(self.fields.public)
                        .unwrap_or_default()
                        .into_bytes(),
                ));
            }
        }
        Ok(None)
    }

    /// A publisher's name as the index holds it.
    pub fn publisher_name(&self, id: &str) -> Option<String> {
        self.publishers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Completions for what has been typed into a search box: matching titles and keywords.
    pub fn suggest(&self, text: &str, limit: usize) -> Result<Suggestions, CatalogError> {
        let mut analyzer = self.analyzer()?;
        let weighted = self.text_fields();
        let Some(query) =
            query::text_query(&mut analyzer, TextFields(&weighted), text, Mode::Suggest)
        else {
            return Ok(Suggestions::default());
        };
        let searcher = self.reader.searcher();
        let (top, counts) = searcher
            .search(
                &*query,
                &(
                    TopDocs::with_limit(limit.max(1)).order_by_score(),
                    self.facets.counter(),
                ),
            )
            .map_err(engine)?;
        let (terms, last) = query::typed_terms(&mut analyzer, text);
        let mut suggestions = Suggestions::default();
        for (_, address) in top.into_iter().take(limit) {
            let mut doc: Stored = searcher.doc(address).map_err(engine)?;
            let (Some(id), Some(slug), Some(name)) = (
                doc.text(self.fields.id),
                doc.text(self.fields.slug),
                doc.text(self.fields.title),
            ) else {
                continue;
            };
            suggestions.datasets.push(SuggestedDataset {
                id,
                slug,
                highlight: completed(&mut analyzer, &name, &terms, last.as_deref()),
                title: name,
            });
        }
        let typed = text.trim().to_lowercase();
        let last_word = typed.split_whitespace().last().unwrap_or_default();
        let mut found: Vec<FacetCount> = self
            .facets
            .named(&counts, dimension("keyword"))
            .into_iter()
            .filter_map(|(value, count)| {
                let lower = value.to_lowercase();
                (lower.contains(&typed) || (!last_word.is_empty() && lower.contains(last_word)))
                    .then(|| FacetCount {
                        value: value.to_string(),
                        count: i64::try_from(count).unwrap_or(i64::MAX),
                        name: None,
                    })
            })
            .collect();
        found.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        found.truncate(limit);
        suggestions.keywords = found;
        Ok(suggestions)
    }
}

/// Runs a query with a top-documents collector, a count and, when asked, facet counts.
fn collect<C, K>(
    searcher: &Searcher,
    query: &dyn Query,
    top: C,
    facets: Option<FacetCounter<'_>>,
) -> Result<(Vec<DocAddress>, usize, Option<FacetTally>), CatalogError>
where
    C: tantivy::collector::Collector<Fruit = Vec<(K, DocAddress)>>,
{
    let addresses = |found: Vec<(K, DocAddress)>| found.into_iter().map(|(_, a)| a).collect();
    match facets {
        Some(facets) => {
            let (found, total, counts) = searcher
                .search(query, &(top, Count, facets))
                .map_err(engine)?;
            Ok((addresses(found), total, Some(counts)))
        }
        None => {
            let (found, total) = searcher.search(query, &(top, Count)).map_err(engine)?;
            Ok((addresses(found), total, None))
        }
    }
}

/// A hit's stored document as read from the store: its values in order (every stored field
/// is text), with no copy into the engine's general document type.
struct Stored(Vec<(Field, String)>);

impl Stored {
    /// The first value of `field` (a title's first is the dataset's own), taken out.
    fn text(&mut self, field: Field) -> Option<String> {
        self.0
            .iter_mut()
            .find(|(f, _)| *f == field)
            .map(|(_, text)| std::mem::take(text))
    }
}

impl DocumentDeserialize for Stored {
    fn deserialize<'de, D>(mut deserializer: D) -> Result<Self, DeserializeError>
    where
        D: DocumentDeserializer<'de>,
    {
        let mut values = Vec::with_capacity(deserializer.size_hint());
        while let Some(value) = deserializer.next_field()? {
            values.push(value);
        }
        Ok(Stored(values))
    }
}

/// A field's text with the query's words in `<mark>`, HTML-escaped: the whole text when it
/// has at most `whole_up_to` characters, else the passage with the most matched words between
/// ellipses; none when no word of the query is in it.
fn marked(generator: &SnippetGenerator, text: &str, whole_up_to: usize) -> Option<String> {
    let snippet = generator.snippet(text);
    if snippet.is_empty() {
        return None;
    }
    let fragment = snippet.fragment_range();
    let highlighted: Vec<std::ops::Range<usize>> =
        tantivy::snippet::collapse_overlapped_ranges(snippet.highlighted())
            .into_iter()
            .map(|r| r.start + fragment.start..r.end + fragment.start)
            .filter(|r| r.end <= text.len())
            .collect();
    let (start, end) = if text.chars().count() <= whole_up_to {
        (0, text.len())
    } else {
        // The fragment ends at its last word: keep what follows up to the next space.
        let end = text[fragment.end..]
            .find(char::is_whitespace)
            .map_or(text.len(), |at| fragment.end + at);
        (fragment.start, end)
    };
    Some(mark_up(text, start..end, &highlighted))
}

/// A title with the words typed in `<mark>` (the last one also where it begins a word),
/// HTML-escaped.
fn completed(
    analyzer: &mut tantivy::tokenizer::TextAnalyzer,
    text: &str,
    terms: &[String],
    last: Option<&str>,
) -> String {
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        let token = stream.token();
        let typed = terms.contains(&token.text)
            || last.is_some_and(|prefix| token.text.starts_with(prefix))
            || last.is_some_and(|prefix| {
                text[token.offset_from..token.offset_to]
                    .to_lowercase()
                    .starts_with(prefix)
            });
        if typed {
            ranges.push(token.offset_from..token.offset_to);
        }
    }
    let ranges = tantivy::snippet::collapse_overlapped_ranges(&ranges);
    mark_up(text, 0..text.len(), &ranges)
}

/// The part `shown` of `text`, HTML-escaped, with the byte ranges `marked` (ordered, not
/// overlapping) in `<mark>`, and an ellipsis where text is left out before or after.
fn mark_up(text: &str, shown: std::ops::Range<usize>, marked: &[std::ops::Range<usize>]) -> String {
    let mut html = String::new();
    if shown.start > 0 {
        html.push('…');
    }
    let mut at = shown.start;
    for range in marked {
        if range.start < at || range.end > shown.end {
            continue;
        }
        html.push_str(&escape(&text[at..range.start]));
        html.push_str("<mark>");
        html.push_str(&escape(&text[range.clone()]));
        html.push_str("</mark>");
        at = range.end;
    }
    html.push_str(&escape(&text[at..shown.end]));
    if shown.end < text.len() {
        html.push('…');
    }
    html
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// The index of a facet dimension in [`DIMENSIONS`].
fn dimension(name: &str) -> usize {
    DIMENSIONS
        .iter()
        .position(|d| *d == name)
        .unwrap_or(DIMENSIONS.len())
}

/// Facet counts by dimension: the `limit` most frequent values, ties by value.
fn facet_counts(tables: &FacetTables, counts: &FacetTally, limit: i64) -> Facets {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let most_frequent = |name: &str| {
        let mut values = tables.named(counts, dimension(name));
        values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        values.truncate(limit);
        values
            .into_iter()
            .map(|(value, count)| FacetCount {
                value: value.to_string(),
                count: i64::try_from(count).unwrap_or(i64::MAX),
                name: None,
            })
            .collect()
    };
    Facets {
        theme: most_frequent("theme"),
        publisher: most_frequent("publisher"),
        format: most_frequent("format"),
        opening_class: most_frequent("opening_class"),
        sharing_class: most_frequent("sharing_class"),
        grade: most_frequent("grade"),
        licence: most_frequent("licence"),
        keyword: most_frequent("keyword"),
    }
}
