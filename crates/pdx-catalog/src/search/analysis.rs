//! Text analysis for catalog search: Chinese segmented into words by jieba, other scripts split
//! into words; then lower-cased, English stop words dropped and English words stemmed, so
//! "hospitals" finds "hospital" and "公交" finds 公交 but not 公园.
//!
//! A Chinese word longer than two characters is also indexed as the dictionary words inside it
//! (jieba's search mode), all at the word's position: "公交车站" is found by "公交" and by
//! "车站", and phrases still line up word by word.

use std::sync::OnceLock;

use jieba_rs::Jieba;
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, Stemmer, StopWordFilter, TextAnalyzer, Token,
    TokenStream, Tokenizer,
};

/// The analyzer's name in the index's tokenizer registry.
pub const ANALYZER: &str = "pdx";

/// Tokens longer than this many bytes (a pasted hash, a URL) are not indexed.
const LONGEST_TOKEN: usize = 64;

/// jieba's small dictionary (`extra_dict/dict.txt.small` of the jieba project, MIT licence,
/// copyright 2013 Sun Junyi): its 110,000 most useful words segment catalog text as well as the
/// full 349,000 do for search, where every long word is also indexed as the words inside it,
/// and hold about 10 MiB instead of 35.
const DICTIONARY: &str = include_str!("dict.txt");

/// The segmenter with its dictionary, loaded once per process (about a twentieth of a second).
fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(|| {
        // The dictionary is part of the binary and a test loads it, so it cannot fail here.
        Jieba::with_dict(&mut DICTIONARY.as_bytes()).unwrap_or_else(|_| Jieba::empty())
    })
}

/// The analyzer of every text field: segmentation, lower case, English stop words, stemming.
pub fn analyzer() -> TextAnalyzer {
    with_filters(Segmenter)
}

/// A tokenizer followed by the filters of every text field.
fn with_filters<T: Tokenizer>(tokenizer: T) -> TextAnalyzer {
    let stop_words = StopWordFilter::new(Language::English)
        .unwrap_or_else(|| StopWordFilter::remove(Vec::<String>::new()));
    TextAnalyzer::builder(tokenizer)
        .filter(RemoveLongFilter::limit(LONGEST_TOKEN))
        .filter(LowerCaser)
        .filter(stop_words)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// Whether `c` is written without spaces between words (Han, kana, hangul): segmented by the
/// dictionary rather than split at spaces.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF
        | 0x20000..=0x2FFFF)
}

/// Splits mixed Chinese and Latin text into words.
#[derive(Debug, Clone, Copy, Default)]
pub struct Segmenter;

impl Tokenizer for Segmenter {
    type TokenStream<'a> = Segments;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Segments {
        Segments {
            tokens: segment(text, |_, _| true),
            next: 0,
        }
    }
}

/// The analyzer that finds a query's words in a hit's text to mark them: the index's analysis,
/// except that text that cannot hold any of `terms` is left out: a Chinese run holding none of
/// the Chinese terms (every word of a run is part of it), and a word of other letters that
/// does not begin as one of the other terms does (lower-casing and English stemming keep a
/// word's first letter). Segmenting and stemming those is most of the cost of marking a page
/// of hits. Its positions are not the index's: it is for offsets only.
pub fn marker<'a>(terms: impl IntoIterator<Item = &'a str>) -> TextAnalyzer {
    let mut wanted = Wanted {
        initials: Vec::new(),
        cjk: Vec::new(),
    };
    for term in terms {
        if term.chars().any(is_cjk) {
            wanted.cjk.push(term.to_owned());
        } else if let Some(initial) = initial(term) {
            wanted.initials.push(initial);
        }
    }
    with_filters(Marker {
        wanted: std::sync::Arc::new(wanted),
    })
}

/// A word's first letter, lower-cased.
fn initial(word: &str) -> Option<char> {
    word.chars().next()?.to_lowercase().next()
}

/// The text a [`Marker`] splits into words.
#[derive(Debug)]
struct Wanted {
    /// The first letters of the terms in other scripts than Chinese: a word is when it begins
    /// with one.
    initials: Vec<char>,
    /// The Chinese terms: a Chinese run is when it holds one.
    cjk: Vec<String>,
}

impl Wanted {
    fn wants(&self, run: Run, text: &str) -> bool {
        match run {
            Run::Word => initial(text).is_some_and(|c| self.initials.contains(&c)),
            Run::Cjk => self.cjk.iter().any(|term| text.contains(term.as_str())),
        }
    }
}

/// Splits text into words as [`Segmenter`] does, leaving out the runs a query cannot match.
#[derive(Debug, Clone)]
struct Marker {
    wanted: std::sync::Arc<Wanted>,
}

impl Tokenizer for Marker {
    type TokenStream<'a> = Segments;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Segments {
        let wanted = &self.wanted;
        Segments {
            tokens: segment(text, |run, text| wanted.wants(run, text)),
            next: 0,
        }
    }
}

/// The words of one text.
#[derive(Debug)]
pub struct Segments {
    tokens: Vec<Token>,
    next: usize,
}

impl TokenStream for Segments {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

/// A run of text of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Cjk,
    Word,
}

/// Runs of CJK characters and of other letters and digits, as byte ranges.
fn runs(text: &str) -> Vec<(Run, usize, usize)> {
    let mut runs: Vec<(Run, usize, usize)> = Vec::new();
    for (at, c) in text.char_indices() {
        let kind = if is_cjk(c) {
            Run::Cjk
        } else if c.is_alphanumeric() {
            Run::Word
        } else {
            continue;
        };
        let end = at + c.len_utf8();
        match runs.last_mut() {
            Some((last, _, last_end)) if *last == kind && *last_end == at => *last_end = end,
            _ => runs.push((kind, at, end)),
        }
    }
    runs
}

/// The tokens of `text`, with byte offsets and word positions, of the runs `wanted` says to
/// split (a run left out still takes a position).
fn segment(text: &str, wanted: impl Fn(Run, &str) -> bool) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut position = 0;
    let mut push = |from: usize, to: usize, position: usize| {
        tokens.push(Token {
            offset_from: from,
            offset_to: to,
            position,
            text: text[from..to].to_owned(),
            position_length: 1,
        });
    };
    for (kind, start, end) in runs(text) {
        if !wanted(kind, &text[start..end]) {
            position += 1;
            continue;
        }
        match kind {
            Run::Word => {
                push(start, end, position);
                position += 1;
            }
            Run::Cjk => {
                let jieba = jieba();
                for word in jieba.cut(&text[start..end], true) {
                    let (from, to) = (start + word.byte_start, start + word.byte_end);
                    for (part_from, part_to) in parts(jieba, &text[from..to]) {
                        push(from + part_from, from + part_to, position);
                    }
                    push(from, to, position);
                    position += 1;
                }
            }
        }
    }
    tokens
}

/// The dictionary words of two and three characters inside a longer word, as byte ranges
/// within it (what jieba's search mode adds).
fn parts(jieba: &Jieba, word: &str) -> Vec<(usize, usize)> {
    let bounds: Vec<usize> = word
        .char_indices()
        .map(|(at, _)| at)
        .chain([word.len()])
        .collect();
    let chars = bounds.len() - 1;
    let mut parts = Vec::new();
    for width in [2, 3] {
        if chars <= width {
            continue;
        }
        for first in 0..=chars - width {
            let (from, to) = (bounds[first], bounds[first + width]);
            if jieba.has_word(&word[from..to]) {
                parts.push((from, to));
            }
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn terms(text: &str) -> Vec<(String, usize)> {
        let mut analyzer = analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut terms = Vec::new();
        while stream.advance() {
            let token = stream.token();
            terms.push((token.text.clone(), token.position));
        }
        terms
    }

    fn words(text: &str) -> Vec<String> {
        terms(text).into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn the_bundled_dictionary_loads_whole() {
        let lines = DICTIONARY.lines().filter(|l| !l.trim().is_empty()).count();
        let loaded = Jieba::with_dict(&mut DICTIONARY.as_bytes()).map_err(|e| e.to_string());
        assert!(loaded.is_ok(), "{loaded:?}");
        assert!(lines > 100_000, "{lines} words");
        for word in ["公交", "医院", "空气质量", "营业执照", "停车场"] {
            assert!(jieba().has_word(word), "{word}");
        }
    }

    #[test]
    fn english_is_lower_cased_stemmed_and_stripped_of_stop_words() {
        assert_eq!(words("The Hospitals of Shenzhen"), ["hospit", "shenzhen"]);
        assert_eq!(words("hospital"), ["hospit"]);
        assert_eq!(words("bus"), ["bus"]);
        assert_ne!(words("business"), ["bus"]);
    }

    #[test]
    fn chinese_is_segmented_into_words_not_characters() {
        let found = words("公交车站位置");
        assert!(found.contains(&"公交".to_owned()), "{found:?}");
        assert!(!found.contains(&"公".to_owned()), "{found:?}");
        assert!(!words("城市公园").contains(&"公交".to_owned()));
    }

    #[test]
    fn parts_of_a_long_word_share_its_position() {
        let found = terms("深圳市公共交通");
        let whole: Vec<&(String, usize)> = found.iter().filter(|(t, _)| t == "公共交通").collect();
        if let Some((_, position)) = whole.first() {
            assert!(
                found.iter().any(|(t, p)| t == "交通" && p == position),
                "{found:?}"
            );
        }
        let positions: Vec<usize> = found.iter().map(|(_, p)| *p).collect();
        assert!(positions.windows(2).all(|w| w[0] <= w[1]), "{found:?}");
    }

    /// The tokens of `text` under `analyzer` that are among `terms`, with their byte offsets.
    fn found(
        analyzer: &mut TextAnalyzer,
        text: &str,
        terms: &[&str],
    ) -> Vec<(String, usize, usize)> {
        let mut stream = analyzer.token_stream(text);
        let mut found = Vec::new();
        while stream.advance() {
            let token = stream.token();
            if terms.contains(&token.text.as_str()) {
                found.push((token.text.clone(), token.offset_from, token.offset_to));
            }
        }
        found
    }

    #[test]
    fn the_marker_finds_what_the_index_analysis_finds() {
        let text = "福田区公交站点（2015） Bus stops, Futian; 南山区空气质量监测 Hospitals 医院床位 \
                    Yearly studies, early dying Ärzte ÉCOLES 2015年";
        for terms in [
            &["公交", "bus"][..],
            &["空气", "质量", "南山"],
            &["hospit", "futian"],
            &["床位", "站点", "stop"],
            &["深圳"],
            &["year", "studi", "earli", "die"],
            &["ärzte", "école", "2015"],
        ] {
            let marked = found(&mut marker(terms.iter().copied()), text, terms);
            assert_eq!(marked, found(&mut analyzer(), text, terms), "{terms:?}");
            // Every term but the one not in the text is found.
            let words: BTreeSet<&str> = marked.iter().map(|(t, _, _)| t.as_str()).collect();
            assert!(
                terms == ["深圳"] || words.len() == terms.len(),
                "{terms:?} {marked:?}"
            );
        }
        assert!(!found(&mut marker(["公交", "bus"]), text, &["公交", "bus"]).is_empty());
        // Runs that cannot hold a wanted word are left out.
        assert!(found(&mut marker(["bus"]), text, &["公交"]).is_empty());
        assert!(!found(&mut analyzer(), text, &["公交"]).is_empty());
        assert!(found(&mut marker(["公交"]), text, &["bus"]).is_empty());
        assert!(!found(&mut analyzer(), text, &["bus"]).is_empty());
    }

    #[test]
    fn mixed_text_keeps_both_scripts_and_byte_offsets() {
        let text = "空气质量 Air Quality 2024";
        let mut analyzer = analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut seen = Vec::new();
        while stream.advance() {
            let token = stream.token();
            seen.push(text[token.offset_from..token.offset_to].to_lowercase());
        }
        assert!(seen.contains(&"air".to_owned()), "{seen:?}");
        assert!(seen.contains(&"2024".to_owned()), "{seen:?}");
        assert!(seen.iter().any(|s| s.contains("空气")), "{seen:?}");
    }
}
