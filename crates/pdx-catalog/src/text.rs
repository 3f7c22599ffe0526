//! The text kept in `datasets.search_text`: words in Latin script and CJK characters as
//! unigrams and bigrams. Catalog search no longer reads it (the search index does the work, see
//! [`crate::search`]); it is kept up to date so that a server of the previous release sharing
//! the database during a rolling upgrade still finds what it searches for, and can be dropped
//! with the column in a later release.

/// Whether `c` is a CJK ideograph or kana/hangul, segmented into n-grams rather than words.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF)
}

fn runs(text: &str) -> Vec<(bool, String)> {
    let mut runs: Vec<(bool, String)> = Vec::new();
    for c in text.chars() {
        let kind = if is_cjk(c) {
            Some(true)
        } else if c.is_alphanumeric() {
            Some(false)
        } else {
            None
        };
        match (kind, runs.last_mut()) {
            (Some(cjk), Some((last_cjk, run))) if *last_cjk == cjk && !run.is_empty() => {
                run.extend(c.to_lowercase())
            }
            (Some(cjk), _) => runs.push((cjk, c.to_lowercase().collect())),
            (None, Some((_, run))) if !run.is_empty() => runs.push((false, String::new())),
            (None, _) => {}
        }
    }
    runs.into_iter()
        .filter(|(_, run)| !run.is_empty())
        .collect()
}

/// The text stored for indexing: words, and every CJK unigram and bigram, space-separated.
pub fn index_text(parts: &[&str]) -> String {
    let mut tokens: Vec<String> = Vec::new();
    for part in parts {
        for (cjk, run) in runs(part) {
            if cjk {
                let chars: Vec<char> = run.chars().collect();
                tokens.extend(chars.iter().map(char::to_string));
                tokens.extend(chars.windows(2).map(|w| w.iter().collect::<String>()));
            } else {
                tokens.push(run);
            }
        }
    }
    tokens.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_is_indexed_as_unigrams_and_bigrams_and_words_lower_cased() {
        assert_eq!(
            index_text(&["公交站点 Bus-Stops 2024"]),
            "公 交 站 点 公交 交站 站点 bus stops 2024"
        );
    }
}
