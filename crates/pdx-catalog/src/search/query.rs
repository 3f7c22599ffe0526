//! From what a visitor typed to an engine query: every word must match somewhere (title,
//! keywords, description or the context of publisher, place, themes and distributions), a
//! title match counts most; "quoted words" must appear as a phrase; short queries forgive a typo
//! and complete the last word as a prefix, scored below exact matches.

use std::ops::Bound;

use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery, FuzzyTermQuery, Occur,
    PhraseQuery, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{Facet, Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;

use super::SearchQuery;
use super::analysis::is_cjk;

/// The fields a query looks in, each with its weight: first the title (where a match counts
/// most), then all searchable text, the title included, where every word must match.
#[derive(Debug, Clone, Copy)]
pub(super) struct TextFields<'a>(pub &'a [(Field, f32)]);

impl TextFields<'_> {
    fn weighted(self) -> impl Iterator<Item = (Field, f32)> {
        self.0.iter().copied()
    }
}

/// How forgiving a query is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Words as typed (in any inflection).
    Strict,
    /// When strict words find nothing: a short query forgives a typo in a Latin-script word and
    /// completes its last word (or a lone Chinese character) as a prefix.
    Forgiving,
    /// A search box being typed into: the last word, in any script, is completed.
    Suggest,
}

/// Queries with at most this many words forgive typos and complete their last word.
const SHORT_QUERY_WORDS: usize = 3;
/// A word needs this many characters before a typo in it is forgiven.
const TYPO_MIN_CHARS: usize = 5;
/// A last word needs this many characters before it is completed as a prefix.
const PREFIX_MIN_CHARS: usize = 2;
/// Weight of a typo-tolerant or prefix match (a constant score) against BM25's exact ones.
const LOOSE_WEIGHT: f32 = 0.3;

/// One word of the query: its term, and for a long Chinese word the dictionary words inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    term: String,
    parts: Vec<String>,
}

/// The words of `text` in order, each with the parts indexed at its position.
fn words(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(usize, Word)> {
    let mut stream = analyzer.token_stream(text);
    let mut by_position: Vec<(usize, Vec<(usize, String)>)> = Vec::new();
    while stream.advance() {
        let token = stream.token();
        let width = token.offset_to - token.offset_from;
        match by_position.last_mut() {
            Some((position, tokens)) if *position == token.position => {
                tokens.push((width, token.text.clone()))
            }
            _ => by_position.push((token.position, vec![(width, token.text.clone())])),
        }
    }
    by_position
        .into_iter()
        .filter_map(|(position, mut tokens)| {
            // The widest token is the word itself; the others are parts of it.
            tokens.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            let mut tokens = tokens.into_iter().map(|(_, t)| t);
            let term = tokens.next()?;
            Some((
                position,
                Word {
                    term,
                    parts: tokens.collect(),
                },
            ))
        })
        .collect()
}

/// The terms of what was typed (each word and its parts), and the last word when the text ends
/// in it (still being typed): what suggestions highlight.
pub(super) fn typed_terms(
    analyzer: &mut TextAnalyzer,
    text: &str,
) -> (Vec<String>, Option<String>) {
    let found = words(analyzer, text);
    let last = found
        .last()
        .filter(|_| ends_in_word(text))
        .map(|(_, w)| w.term.clone());
    let terms = found
        .into_iter()
        .flat_map(|(_, w)| std::iter::once(w.term).chain(w.parts))
        .collect();
    (terms, last)
}

/// Whether `text`, trailing spaces aside, ends in a word rather than punctuation or a quote.
fn ends_in_word(text: &str) -> bool {
    text.trim_end()
        .chars()
        .last()
        .is_some_and(char::is_alphanumeric)
}

/// Splits text into its quoted phrases and the rest.
fn phrases_and_rest(text: &str) -> (Vec<&str>, String) {
    let mut phrases = Vec::new();
    let mut rest = String::new();
    for (i, piece) in text.split(['"', '“', '”']).enumerate() {
        if i % 2 == 1 {
            phrases.push(piece);
        } else {
            rest.push_str(piece);
            rest.push(' ');
        }
    }
    (phrases, rest)
}

fn term_query(field: Field, text: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::WithFreqs,
    ))
}

fn any(queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    match queries.len() {
        0 => Box::new(EmptyQuery),
        1 => queries
            .into_iter()
            .next()
            .unwrap_or_else(|| Box::new(EmptyQuery)),
        _ => Box::new(BooleanQuery::new(
            queries.into_iter().map(|q| (Occur::Should, q)).collect(),
        )),
    }
}

fn all(queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    match queries.len() {
        0 => Box::new(AllQuery),
        1 => queries
            .into_iter()
            .next()
            .unwrap_or_else(|| Box::new(AllQuery)),
        _ => Box::new(BooleanQuery::new(
            queries.into_iter().map(|q| (Occur::Must, q)).collect(),
        )),
    }
}

fn boosted(query: Box<dyn Query>, weight: f32) -> Box<dyn Query> {
    if (weight - 1.0).abs() < f32::EPSILON {
        query
    } else {
        Box::new(BoostQuery::new(query, weight))
    }
}

/// A term in any text field, weighted by field.
fn in_any_field(fields: TextFields<'_>, term: &str) -> Box<dyn Query> {
    any(fields
        .weighted()
        .map(|(field, weight)| boosted(term_query(field, term), weight))
        .collect())
}

/// Whether the words of `text` could be matched more loosely than strictly ([`Mode`]).
pub(super) fn forgivable(analyzer: &mut TextAnalyzer, text: &str) -> bool {
    let found = words(analyzer, text);
    found.len() <= SHORT_QUERY_WORDS
        && found.iter().any(|(_, w)| {
            let chars = w.term.chars().count();
            if is_latin(&w.term) {
                chars >= PREFIX_MIN_CHARS
            } else {
                chars == 1
            }
        })
}

/// Whether a word is a Latin-script word, where typos and prefixes are worth forgiving.
fn is_latin(term: &str) -> bool {
    !term.chars().any(is_cjk) && term.chars().any(char::is_alphabetic)
}

/// How one word may match. Strictly: the word in the searchable text (for a long Chinese word,
/// every dictionary word inside it, which the word's own occurrences hold too), scored higher
/// where the title has it. Forgiving, for short queries: also within one typo, or (the last
/// word) as the start of a longer one. Suggesting: the last word as the start of one.
fn word_query(
    fields: TextFields<'_>,
    word: &Word,
    loose: bool,
    completion: Option<Mode>,
) -> Box<dyn Query> {
    let mut weighted = fields.weighted();
    let Some((title, title_weight)) = weighted.next() else {
        return Box::new(EmptyQuery);
    };
    let text = weighted.next().map_or(title, |(field, _)| field);
    let required: Box<dyn Query> = if word.parts.is_empty() {
        term_query(text, &word.term)
    } else {
        all(word
            .parts
            .iter()
            .map(|part| term_query(text, part))
            .collect())
    };
    let chars = word.term.chars().count();
    let latin = is_latin(&word.term);
    let typo = loose && latin && chars >= TYPO_MIN_CHARS;
    let prefix = match completion {
        // A single Chinese character stands for the words it begins.
        Some(Mode::Forgiving) => {
            loose
                && (if latin {
                    chars >= PREFIX_MIN_CHARS
                } else {
                    chars == 1
                })
        }
        Some(Mode::Suggest) => !latin || chars >= PREFIX_MIN_CHARS,
        Some(Mode::Strict) | None => false,
    };
    let required = if typo || prefix {
        let mut ways = vec![required];
        for (field, weight) in [(title, title_weight), (text, 1.0)] {
            let term = Term::from_field_text(field, &word.term);
            if typo {
                let query = FuzzyTermQuery::new(term.clone(), 1, true);
                ways.push(boosted(Box::new(query), LOOSE_WEIGHT * weight));
            }
            if prefix {
                let query = FuzzyTermQuery::new_prefix(term, 0, true);
                ways.push(boosted(Box::new(query), LOOSE_WEIGHT * weight));
            }
        }
        any(ways)
    } else {
        required
    };
    if title == text {
        return required;
    }
    Box::new(BooleanQuery::new(vec![
        (Occur::Must, required),
        (
            Occur::Should,
            boosted(term_query(title, &word.term), title_weight),
        ),
    ]))
}

/// A phrase in any text field (a single word when the phrase has one).
fn phrase_query(fields: TextFields<'_>, words: &[(usize, Word)]) -> Box<dyn Query> {
    let Some((first, _)) = words.first() else {
        return Box::new(AllQuery);
    };
    if words.len() == 1 {
        return in_any_field(fields, &words[0].1.term);
    }
    any(fields
        .weighted()
        .map(|(field, weight)| {
            let terms = words
                .iter()
                .map(|(position, word)| {
                    (position - first, Term::from_field_text(field, &word.term))
                })
                .collect();
            boosted(Box::new(PhraseQuery::new_with_offset(terms)), weight)
        })
        .collect())
}

/// The query for the text a visitor typed; `None` when it holds no searchable word (only
/// punctuation or stop words), which matches nothing.
pub(super) fn text_query(
    analyzer: &mut TextAnalyzer,
    fields: TextFields<'_>,
    text: &str,
    mode: Mode,
) -> Option<Box<dyn Query>> {
    let (phrases, rest) = phrases_and_rest(text);
    let rest_words = words(analyzer, &rest);
    let phrase_words: Vec<Vec<(usize, Word)>> = phrases
        .iter()
        .map(|phrase| words(analyzer, phrase))
        .filter(|words| !words.is_empty())
        .collect();
    if rest_words.is_empty() && phrase_words.is_empty() {
        return None;
    }
    let loose =
        mode == Mode::Forgiving && rest_words.len() + phrase_words.len() <= SHORT_QUERY_WORDS;
    let ends_in_word = ends_in_word(text);
    let mut required: Vec<Box<dyn Query>> = Vec::new();
    for (i, (_, word)) in rest_words.iter().enumerate() {
        let last = ends_in_word && i + 1 == rest_words.len();
        required.push(word_query(fields, word, loose, last.then_some(mode)));
    }
    for words in &phrase_words {
        required.push(phrase_query(fields, words));
    }
    Some(Box::new(BooleanQuery::new(
        required.into_iter().map(|q| (Occur::Must, q)).collect(),
    )))
}

/// The fields filters use.
#[derive(Debug, Clone, Copy)]
pub(super) struct FilterFields {
    pub facets: Field,
    pub modified: Field,
}

/// The facet path of a value of a facet dimension.
pub(super) fn facet(dimension: &str, value: &str) -> Facet {
    Facet::from_path([dimension, value])
}

/// Filters of a search: each facet value given must be present; they do not change scores.
pub(super) fn filters(fields: FilterFields, query: &SearchQuery) -> Vec<Box<dyn Query>> {
    let mut filters: Vec<Box<dyn Query>> = Vec::new();
    for (dimension, value) in [
        ("theme", &query.theme),
        ("keyword", &query.keyword),
        ("format", &query.format),
        ("publisher", &query.publisher),
        ("opening_class", &query.opening_class),
        ("sharing_class", &query.sharing_class),
        ("grade", &query.grade),
        ("licence", &query.licence),
    ] {
        if let Some(value) = value {
            let term = Term::from_facet(fields.facets, &facet(dimension, value));
            filters.push(Box::new(ConstScoreQuery::new(
                Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
                0.0,
            )));
        }
    }
    if let Some(since) = query.modified_since {
        let micros = since.and_utc().timestamp_micros();
        filters.push(Box::new(ConstScoreQuery::new(
            Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_i64(fields.modified, micros)),
                Bound::Unbounded,
            )),
            0.0,
        )));
    }
    filters
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::analysis::analyzer;

    #[test]
    fn quoted_phrases_are_set_apart() {
        let (phrases, rest) = phrases_and_rest(r#"bus "air quality" 深圳"#);
        assert_eq!(phrases, ["air quality"]);
        assert_eq!(rest.split_whitespace().collect::<Vec<_>>(), ["bus", "深圳"]);
    }

    #[test]
    fn a_long_chinese_word_carries_its_parts() {
        let found = words(&mut analyzer(), "公共交通");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].1.term, "公共交通");
        assert!(found[0].1.parts.contains(&"交通".to_owned()), "{found:?}");
    }

    #[test]
    fn stop_words_alone_are_no_query() {
        let mut schema = tantivy::schema::Schema::builder();
        let text = schema.add_text_field("t", tantivy::schema::TEXT);
        let weighted = [(text, 1.0)];
        let fields = TextFields(&weighted);
        assert!(text_query(&mut analyzer(), fields, "the of", Mode::Strict).is_none());
        assert!(text_query(&mut analyzer(), fields, "?!", Mode::Strict).is_none());
        assert!(text_query(&mut analyzer(), fields, "bus", Mode::Strict).is_some());
    }
}
