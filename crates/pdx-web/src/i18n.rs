//! The portal's two languages: Fluent translation files compiled into the binary, the
//! visitor's choice (cookie, then `Accept-Language`), and numbers and dates as each writes them.

use std::sync::LazyLock;

use chrono::{Datelike, NaiveDate};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

/// The cookie that remembers the visitor's language.
pub const LANG_COOKIE: &str = "pdx_lang";

/// A language of the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Simplified Chinese, the default.
    #[default]
    Zh,
    /// English.
    En,
}

/// The translation sources, as compiled in.
pub(crate) const SOURCES: [(Lang, &str); 2] = [
    (Lang::Zh, include_str!("../locales/zh-CN.ftl")),
    (Lang::En, include_str!("../locales/en.ftl")),
];

struct Catalogues {
    zh: FluentBundle<FluentResource>,
    en: FluentBundle<FluentResource>,
}

static CATALOGUES: LazyLock<Catalogues> = LazyLock::new(|| Catalogues {
    zh: bundle(Lang::Zh),
    en: bundle(Lang::En),
});

fn bundle(lang: Lang) -> FluentBundle<FluentResource> {
    let id: LanguageIdentifier = lang
        .code()
        .parse()
        .unwrap_or_else(|_| LanguageIdentifier::default());
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // Pages are HTML, not bidirectional text: no isolation marks around arguments.
    bundle.set_use_isolating(false);
    // COUNT($n): a number with thousands separators (Fluent's own formatting has none).
    let counted = bundle.add_function("COUNT", move |positional, _named| {
        match positional.first() {
            Some(FluentValue::Number(n)) => FluentValue::from(lang.number(n.value as i64)),
            Some(other) => other.clone(),
            None => FluentValue::Error,
        }
    });
    if let Err(error) = counted {
        tracing::error!(?error, "cannot register COUNT");
    }
    let source = SOURCES
        .iter()
        .find(|(l, _)| *l == lang)
        .map_or("", |(_, source)| source);
    let resource =
        FluentResource::try_new(source.to_owned()).unwrap_or_else(|(resource, errors)| {
            tracing::error!(?lang, ?errors, "translation file has errors");
            resource
        });
    if let Err(errors) = bundle.add_resource(resource) {
        tracing::error!(?lang, ?errors, "translation file has duplicate messages");
    }
    bundle
}

impl Lang {
    /// Both languages, in the order the switch shows them.
    pub const ALL: [Lang; 2] = [Lang::Zh, Lang::En];

    /// The BCP 47 tag, for `lang` attributes.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The short name used in URLs and the cookie.
    pub fn slug(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The language's name in itself, for the switch.
    pub fn own_name(self) -> &'static str {
        match self {
            Lang::Zh => "中文",
            Lang::En => "English",
        }
    }

    /// The language a URL or cookie names.
    pub fn from_slug(slug: &str) -> Option<Self> {
        match slug {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The visitor's language: the cookie's choice, else the first of ours that
    /// `Accept-Language` prefers, else Chinese.
    pub fn choose(cookie: Option<&str>, accept_language: Option<&str>) -> Self {
        if let Some(lang) = cookie.and_then(Self::from_slug) {
            return lang;
        }
        let Some(header) = accept_language else {
            return Lang::default();
        };
        let mut best: Option<(f32, Lang)> = None;
        for item in header.split(',').take(16) {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let quality = parts
                .find_map(|p| p.trim().strip_prefix("q=").map(str::to_owned))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let lang = if tag == "zh" || tag.starts_with("zh-") {
                Lang::Zh
            } else if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else {
                continue;
            };
            if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, lang));
            }
        }
        best.map_or_else(Lang::default, |(_, lang)| lang)
    }

    fn bundle(self) -> &'static FluentBundle<FluentResource> {
        match self {
            Lang::Zh => &CATALOGUES.zh,
            Lang::En => &CATALOGUES.en,
        }
    }

    /// The text of a message. A missing key shows as `[[key]]`, which the portal's crawl test
    /// looks for, and is logged.
    pub fn t(self, key: &str) -> String {
        self.format(key, None)
    }

    /// The text of a message with arguments.
    pub fn t_with(self, key: &str, args: &[(&str, Arg)]) -> String {
        let mut fluent = FluentArgs::new();
        for (name, value) in args {
            match value {
                Arg::Text(text) => fluent.set(*name, FluentValue::from(text.clone())),
                Arg::Number(n) => fluent.set(*name, FluentValue::from(*n)),
            }
        }
        self.format(key, Some(&fluent))
    }

    fn format(self, key: &str, args: Option<&FluentArgs<'_>>) -> String {
        let bundle = self.bundle();
        let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
            tracing::warn!(key, lang = self.code(), "missing translation");
            return format!("[[{key}]]");
        };
        let mut errors = vec![];
        let text = bundle.format_pattern(pattern, args, &mut errors);
        if !errors.is_empty() {
            tracing::warn!(
                key,
                lang = self.code(),
                ?errors,
                "translation failed to format"
            );
        }
        text.into_owned()
    }

    /// The colon after a label: full-width in Chinese.
    pub fn colon(self) -> &'static str {
        match self {
            Lang::Zh => "：",
            Lang::En => ": ",
        }
    }

    /// An integer with thousands separators (both languages group by three on screen).
    pub fn number(self, n: i64) -> String {
        let digits = n.unsigned_abs().to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
        if n < 0 {
            out.push('-');
        }
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }

    /// An amount of money given in fen, in yuan: `¥12.50`.
    pub fn money(self, fen: i64) -> String {
        let sign = if fen < 0 { "-" } else { "" };
        let fen = fen.unsigned_abs();
        let yuan = self.number(i64::try_from(fen / 100).unwrap_or(i64::MAX));
        format!("{sign}¥{yuan}.{:02}", fen % 100)
    }

    /// A byte count in the largest unit that keeps it above one (KB = 1,000 bytes).
    pub fn bytes(self, n: i64) -> String {
        const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
        let mut value = n.max(0) as f64;
        let mut unit = 0;
        while value >= 1000.0 && unit < UNITS.len() - 1 {
            value /= 1000.0;
            unit += 1;
        }
        if unit == 0 {
            format!("{} B", self.number(n.max(0)))
        } else if value < 10.0 {
            format!("{value:.1} {}", UNITS[unit])
        } else {
            format!("{value:.0} {}", UNITS[unit])
        }
    }

    /// A date as a native reader writes it: `2 December 2026`, `2026年12月2日`.
    pub fn date(self, date: NaiveDate) -> String {
        match self {
            Lang::Zh => format!("{}年{}月{}日", date.year(), date.month(), date.day()),
            Lang::En => {
                const MONTHS: [&str; 12] = [
                    "January",
                    "February",
                    "March",
                    "April",
                    "May",
                    "June",
                    "July",
                    "August",
                    "September",
                    "October",
                    "November",
                    "December",
                ];
                let month = MONTHS
                    .get(date.month0() as usize)
                    .copied()
                    .unwrap_or_default();
                format!("{} {month} {}", date.day(), date.year())
            }
        }
    }

    /// The date part of an RFC 3339 timestamp, formatted; the text itself when it is not one.
    pub fn timestamp_date(self, rfc3339: &str) -> String {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .map(|t| self.date(t.date_naive()))
            .unwrap_or_else(|_| rfc3339.to_owned())
    }
}

/// A message argument.
#[derive(Debug, Clone)]
pub enum Arg {
    /// Text.
    Text(String),
    /// A number (selects plural forms).
    Number(i64),
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn keys(source: &str) -> BTreeSet<String> {
        let resource = match FluentResource::try_new(source.to_owned()) {
            Ok(resource) => resource,
            Err((_, errors)) => panic!("translation file does not parse: {errors:?}"),
        };
        resource
            .entries()
            .filter_map(|entry| match entry {
                fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_key_exists_in_both_languages() {
        let zh = keys(SOURCES[0].1);
        let en = keys(SOURCES[1].1);
        let only_zh: Vec<_> = zh.difference(&en).collect();
        let only_en: Vec<_> = en.difference(&zh).collect();
        assert!(only_zh.is_empty(), "keys missing in English: {only_zh:?}");
        assert!(only_en.is_empty(), "keys missing in Chinese: {only_en:?}");
        assert!(zh.len() > 50, "the portal has its labels in the files");
    }

    #[test]
    fn every_message_formats_without_errors_in_both_languages() {
        for (lang, source) in SOURCES {
            for key in keys(source) {
                let text = lang.t(&key);
                assert!(!text.starts_with("[["), "{key} has no value in {lang:?}");
            }
        }
    }

    #[test]
    fn every_anomaly_figure_has_a_name_in_both_languages() {
        for figure in pdx_circulation::anomalies::FIGURES {
            let key = format!("figure-{}", figure.replace('_', "-"));
            for lang in Lang::ALL {
                assert!(!lang.t(&key).starts_with("[["), "{key} in {lang:?}");
            }
        }
    }

    #[test]
    fn missing_key_is_marked() {
        assert_eq!(Lang::En.t("no-such-key"), "[[no-such-key]]");
    }

    #[test]
    fn cookie_wins_over_accept_language() {
        assert_eq!(Lang::choose(Some("en"), Some("zh-CN,zh;q=0.9")), Lang::En);
        assert_eq!(Lang::choose(Some("xx"), Some("en-GB,en;q=0.8")), Lang::En);
    }

    #[test]
    fn accept_language_quality_is_respected() {
        assert_eq!(
            Lang::choose(None, Some("fr;q=1, en;q=0.5, zh;q=0.7")),
            Lang::Zh
        );
        assert_eq!(Lang::choose(None, Some("en-US,zh;q=0.5")), Lang::En);
        assert_eq!(Lang::choose(None, Some("de")), Lang::Zh);
        assert_eq!(Lang::choose(None, None), Lang::Zh);
        assert_eq!(Lang::choose(None, Some("en;q=0, zh;q=0.1")), Lang::Zh);
    }

    #[test]
    fn numbers_dates_and_sizes_read_naturally() {
        assert_eq!(Lang::En.number(1_234_567), "1,234,567");
        assert_eq!(Lang::Zh.number(-999), "-999");
        assert_eq!(Lang::En.number(1000), "1,000");
        let day = NaiveDate::from_ymd_opt(2026, 12, 2).expect("a date");
        assert_eq!(Lang::En.date(day), "2 December 2026");
        assert_eq!(Lang::Zh.date(day), "2026年12月2日");
        assert_eq!(Lang::En.bytes(10_240), "10 KB");
        assert_eq!(Lang::En.bytes(1_500_000), "1.5 MB");
        assert_eq!(Lang::En.bytes(999), "999 B");
    }

    #[test]
    fn plural_arguments_format() {
        assert_eq!(
            Lang::En.t_with("search-count", &[("count", Arg::Number(1))]),
            "1 dataset"
        );
        assert_eq!(
            Lang::En.t_with("search-count", &[("count", Arg::Number(12))]),
            "12 datasets"
        );
    }
}
