//! Facet counts from a table of every document's facet values, decoded once per segment when
//! the index's reader first meets the segment, rather than from the engine's facet column on
//! every search. A search counts the facets of every match (thousands for a common word), so
//! this is most of what a facet count costs: an array walk instead of a column read and a
//! mapping per value, and no dictionary look-ups to name the counted values.
//!
//! The table must stay small to be fast: a match's values are read from wherever it lies in
//! the table, so its size decides how much of it the CPU's cache holds. Values are numbered
//! within their segment and kept in one byte each when a segment has at most 256 (two bytes up
//! to 65,536): 1.4 MB for 100,000 datasets, where four bytes a value made searches slower than
//! the engine's own column. Values are named once, in [`Names`], which keeps every value it
//! has met (one entry per distinct value, however many segments hold it).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::index::SegmentId;
use tantivy::schema::Facet;
use tantivy::{DocId, Score, Searcher, SearcherGeneration, SegmentOrdinal, SegmentReader};

/// One segment's facet values.
struct SegmentTable {
    /// Where each document's values start in `values`, and where the last one's end.
    starts: Vec<u32>,
    /// Every document's facet values of the counted dimensions, numbered within the segment.
    values: Values,
    /// The number in [`Names`] of each value numbered within the segment.
    names: Vec<u32>,
}

/// Values numbered within a segment, in as few bytes as their count allows: a table read
/// for every match of a search is read faster the smaller it is.
enum Values {
    Narrow(Vec<u8>),
    Middle(Vec<u16>),
    Wide(Vec<u32>),
}

impl Values {
    fn new(values: Vec<u32>, distinct: usize) -> Self {
        if distinct <= 1 << 8 {
            Self::Narrow(values.into_iter().map(|v| v as u8).collect())
        } else if distinct <= 1 << 16 {
            Self::Middle(values.into_iter().map(|v| v as u16).collect())
        } else {
            Self::Wide(values)
        }
    }
}

/// Every facet value the tables have met, numbered in the order met, so that counts are
/// indexes into one array whatever the segment.
#[derive(Default)]
struct Names {
    numbers: HashMap<(usize, Arc<str>), u32>,
    values: Vec<(usize, Arc<str>)>,
}

impl Names {
    fn number(&mut self, dimension: usize, value: &str) -> Option<u32> {
        let key = (dimension, Arc::<str>::from(value));
        if let Some(&number) = self.numbers.get(&key) {
            return Some(number);
        }
        let number = u32::try_from(self.values.len()).ok()?;
        self.values.push(key.clone());
        self.numbers.insert(key, number);
        Some(number)
    }
}

/// The facet tables of the segments that live searchers read, kept up to date as the reader
/// opens new segments and lets old ones go (a [`tantivy::Warmer`] of the index's reader).
pub(super) struct FacetTables {
    field: String,
    dimensions: &'static [&'static str],
    tables: RwLock<HashMap<SegmentId, Arc<SegmentTable>>>,
    names: RwLock<Names>,
}

impl FacetTables {
    /// Tables of the facet field `field`, counting facets `/dimension/value` of `dimensions`.
    pub(super) fn new(field: &str, dimensions: &'static [&'static str]) -> Self {
        Self {
            field: field.to_owned(),
            dimensions,
            tables: RwLock::default(),
            names: RwLock::default(),
        }
    }

    fn table(&self, reader: &SegmentReader) -> tantivy::Result<Arc<SegmentTable>> {
        let id = reader.segment_id();
        let known = self
            .tables
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned();
        if let Some(table) = known {
            return Ok(table);
        }
        let table = Arc::new(self.read(reader)?);
        self.tables
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, table.clone());
        Ok(table)
    }

    /// Reads a segment's facet values into a table.
    fn read(&self, reader: &SegmentReader) -> tantivy::Result<SegmentTable> {
        let facet_reader = reader.facet_reader(&self.field)?;
        let dictionary = facet_reader.facet_dict();
        // The number of each of the segment's facets (by its ordinal in the segment's
        // dictionary), none for a facet that is not `/dimension/value` of a counted dimension.
        // Within the segment, a counted value is numbered by its place in `segment_names`,
        // which holds its number in `Names`.
        let mut numbers = Vec::with_capacity(dictionary.num_terms());
        let mut segment_names = Vec::new();
        {
            let mut names = self.names.write().unwrap_or_else(PoisonError::into_inner);
            let mut terms = dictionary.stream()?;
            while terms.advance() {
                let facet = Facet::from_encoded(terms.key().to_vec()).ok();
                let number = facet.and_then(|facet| match facet.to_path().as_slice() {
                    [dimension, value] => {
                        let dimension = self.dimensions.iter().position(|d| d == dimension)?;
                        names.number(dimension, value)
                    }
                    _ => None,
                });
                numbers.push(number.map(|number| {
                    segment_names.push(number);
                    (segment_names.len() - 1) as u32
                }));
            }
        }
        let documents = reader.max_doc() as usize;
        let mut starts = Vec::with_capacity(documents + 1);
        let mut values = Vec::new();
        starts.push(0);
        for doc in 0..reader.max_doc() {
            for ord in facet_reader.facet_ords(doc) {
                let number = usize::try_from(ord).ok().and_then(|i| numbers.get(i));
                match number {
                    Some(Some(number)) => values.push(*number),
                    Some(None) => {}
                    None => {
                        return Err(tantivy::TantivyError::InternalError(format!(
                            "facet ordinal {ord} outside the dictionary's {}",
                            numbers.len()
                        )));
                    }
                }
            }
            let end = u32::try_from(values.len()).map_err(|_| {
                tantivy::TantivyError::InternalError("too many facet values".to_owned())
            })?;
            starts.push(end);
        }
        Ok(SegmentTable {
            starts,
            values: Values::new(values, segment_names.len()),
            names: segment_names,
        })
    }

    /// A collector counting facet values over the matching documents.
    pub(super) fn counter(&self) -> FacetCounter<'_> {
        FacetCounter { tables: self }
    }

    /// The values of `dimension` (an index into the dimensions) that `counts` counted, with
    /// their counts.
    pub(super) fn named(&self, counts: &FacetTally, dimension: usize) -> Vec<(Arc<str>, u64)> {
        let names = self.names.read().unwrap_or_else(PoisonError::into_inner);
        counts
            .0
            .iter()
            .zip(&names.values)
            .filter(|(count, (of, _))| **count > 0 && *of == dimension)
            .map(|(count, (_, value))| (value.clone(), u64::from(*count)))
            .collect()
    }

    #[cfg(test)]
    fn segments(&self) -> usize {
        self.tables
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl tantivy::Warmer for FacetTables {
    fn warm(&self, searcher: &Searcher) -> tantivy::Result<()> {
        for reader in searcher.segment_readers() {
            self.table(reader)?;
        }
        Ok(())
    }

    fn garbage_collect(&self, live_generations: &[&SearcherGeneration]) {
        self.tables
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|id, _| {
                live_generations
                    .iter()
                    .any(|generation| generation.segments().contains_key(id))
            });
    }
}

/// Counts of facet values by their number: how many matching documents have each.
#[derive(Debug, Default)]
pub(super) struct FacetTally(Vec<u32>);

/// Counts facet values over the documents a query matches.
pub(super) struct FacetCounter<'a> {
    tables: &'a FacetTables,
}

impl Collector for FacetCounter<'_> {
    type Fruit = FacetTally;
    type Child = SegmentCounter;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentCounter> {
        let table = self.tables.table(reader)?;
        Ok(SegmentCounter {
            counts: vec![0; table.names.len()],
            table,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<SegmentTally>) -> tantivy::Result<FacetTally> {
        let mut merged: Vec<u32> = Vec::new();
        for SegmentTally(counts) in segments {
            for (number, count) in counts {
                let number = number as usize;
                if merged.len() <= number {
                    merged.resize(number + 1, 0);
                }
                merged[number] += count;
            }
        }
        Ok(FacetTally(merged))
    }
}

/// One segment's counts: the number in [`Names`] of each value counted, and its count.
pub(super) struct SegmentTally(Vec<(u32, u32)>);

/// Counts in one segment.
pub(super) struct SegmentCounter {
    table: Arc<SegmentTable>,
    counts: Vec<u32>,
}

impl SegmentCollector for SegmentCounter {
    type Fruit = SegmentTally;

    fn collect(&mut self, doc: DocId, _: Score) {
        let table = &*self.table;
        let doc = doc as usize;
        let (Some(&start), Some(&end)) = (table.starts.get(doc), table.starts.get(doc + 1)) else {
            return;
        };
        let range = start as usize..end as usize;
        match &table.values {
            Values::Narrow(values) => count(&mut self.counts, &values[range]),
            Values::Middle(values) => count(&mut self.counts, &values[range]),
            Values::Wide(values) => count(&mut self.counts, &values[range]),
        }
    }

    fn harvest(self) -> SegmentTally {
        SegmentTally(
            self.counts
                .iter()
                .zip(&self.table.names)
                .filter(|(count, _)| **count > 0)
                .map(|(count, number)| (*number, *count))
                .collect(),
        )
    }
}

fn count<T: Copy + Into<u32>>(counts: &mut [u32], values: &[T]) {
    for &value in values {
        let value: u32 = value.into();
        counts[value as usize] += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tantivy::collector::{Count, FacetCollector};
    use tantivy::query::{AllQuery, TermQuery};
    use tantivy::schema::{FacetOptions, IndexRecordOption, STRING, Schema};
    use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, Term};

    use super::*;

    const DIMENSIONS: &[&str] = &["theme", "format"];

    fn reader(index: &Index, tables: &Arc<FacetTables>) -> IndexReader {
        let warmer: Arc<dyn tantivy::Warmer> = tables.clone();
        match index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .warmers(vec![Arc::downgrade(&warmer)])
            .try_into()
        {
            Ok(reader) => reader,
            Err(error) => panic!("no reader: {error}"),
        }
    }

    /// The engine's own facet counts of the same query, to compare with.
    fn engine_counts(
        searcher: &Searcher,
        query: &dyn tantivy::query::Query,
    ) -> Vec<BTreeMap<String, u64>> {
        let mut collector = FacetCollector::for_field("facets");
        for dimension in DIMENSIONS {
            collector.add_facet(format!("/{dimension}").as_str());
        }
        let Ok(counts) = searcher.search(query, &collector) else {
            panic!("the engine's count failed")
        };
        DIMENSIONS
            .iter()
            .map(|dimension| {
                counts
                    .get(format!("/{dimension}").as_str())
                    .filter_map(|(facet, count)| {
                        let value = facet.to_path().last().map(|v| (*v).to_owned())?;
                        Some((value, count))
                    })
                    .collect()
            })
            .collect()
    }

    /// Counts by dimension, as the engine's are.
    fn counted(tables: &FacetTables, tally: &FacetTally) -> Vec<BTreeMap<String, u64>> {
        (0..DIMENSIONS.len())
            .map(|dimension| {
                tables
                    .named(tally, dimension)
                    .into_iter()
                    .map(|(value, count)| (value.to_string(), count))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn counts_match_the_engines_across_segments_deletions_and_merges() {
        let mut schema = Schema::builder();
        let id = schema.add_text_field("id", STRING);
        let kind = schema.add_text_field("kind", STRING);
        let facets = schema.add_facet_field("facets", FacetOptions::default());
        let index = Index::create_in_ram(schema.build());
        let tables = Arc::new(FacetTables::new("facets", DIMENSIONS));
        let reader = reader(&index, &tables);
        let Ok(mut writer) = index.writer_with_num_threads::<TantivyDocument>(1, 15_000_000) else {
            panic!("no writer")
        };
        let themes = ["TRAN", "ENVI", "HEAL"];
        let formats = ["CSV", "JSON"];
        // Three segments (a commit each); some documents have a facet of a dimension nobody
        // counts, or a value with a slash, or none at all.
        for segment in 0..3 {
            for i in 0..40 {
                let n = segment * 40 + i;
                let mut doc = TantivyDocument::new();
                doc.add_text(id, n.to_string());
                doc.add_text(kind, if n % 2 == 0 { "even" } else { "odd" });
                if n % 7 != 0 {
                    doc.add_facet(facets, Facet::from_path(["theme", themes[n % 3]]));
                    doc.add_facet(facets, Facet::from_path(["format", formats[n % 2]]));
                }
                if n % 5 == 0 {
                    doc.add_facet(facets, Facet::from_path(["format", "text/csv; a/b"]));
                    doc.add_facet(facets, Facet::from_path(["keyword", "bus"]));
                }
                assert!(writer.add_document(doc).is_ok());
            }
            assert!(writer.commit().is_ok());
        }
        // A segment of more distinct values than a byte numbers: its table takes two bytes a
        // value.
        for n in 0..300 {
            let mut doc = TantivyDocument::new();
            doc.add_text(id, format!("wide-{n}"));
            doc.add_text(kind, if n % 2 == 0 { "even" } else { "odd" });
            doc.add_facet(facets, Facet::from_path(["theme", &format!("T{n}")]));
            doc.add_facet(facets, Facet::from_path(["format", formats[n % 2]]));
            assert!(writer.add_document(doc).is_ok());
        }
        assert!(writer.commit().is_ok());
        assert!(reader.reload().is_ok());
        assert_eq!(tables.segments(), reader.searcher().segment_readers().len());
        assert!(
            tables
                .tables
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .any(|table| matches!(table.values, Values::Middle(_))),
            "a segment numbers its values in two bytes"
        );
        assert!(tables.segments() >= 2, "several segments");

        let compare = |reader: &IndexReader| {
            let searcher = reader.searcher();
            let odd = TermQuery::new(Term::from_field_text(kind, "odd"), IndexRecordOption::Basic);
            for query in [&AllQuery as &dyn tantivy::query::Query, &odd] {
                let Ok((tally, count)) = searcher.search(query, &(tables.counter(), Count)) else {
                    panic!("the count failed")
                };
                assert!(count > 0);
                assert_eq!(
                    counted(&tables, &tally),
                    engine_counts(&searcher, query),
                    "{query:?}"
                );
            }
        };
        compare(&reader);
        let all = reader
            .searcher()
            .search(&AllQuery, &tables.counter())
            .unwrap_or_default();
        assert_eq!(counted(&tables, &all)[1].get("text/csv; a/b"), Some(&24));
        // A dimension nobody counts is not named.
        assert!(
            (0..2).all(|d| tables.named(&all, d).iter().all(|(v, _)| &**v != "bus")),
            "keywords are not counted"
        );

        // Deleted documents are not counted; merged segments get tables of their own and the
        // tables of segments no searcher reads are let go.
        writer.delete_term(Term::from_field_text(kind, "even"));
        assert!(writer.commit().is_ok());
        assert!(reader.reload().is_ok());
        compare(&reader);
        let Ok(ids) = index.searchable_segment_ids() else {
            panic!("no segments")
        };
        assert!(writer.merge(&ids).wait().is_ok());
        assert!(writer.wait_merging_threads().is_ok());
        assert!(reader.reload().is_ok());
        compare(&reader);
        assert_eq!(reader.searcher().segment_readers().len(), 1);
        // The collector of old generations runs in the background each second.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while tables.segments() > 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(
            tables.segments(),
            1,
            "the merged-away segments' tables let go"
        );
    }
}
