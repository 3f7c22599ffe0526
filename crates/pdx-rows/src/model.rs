//! The values of ingested tables: column types and how text becomes a typed value, a table's
//! columns, ingestions and their state, and the options a publisher ingests with.

use chrono::{NaiveDate, NaiveDateTime};
use pdx_core::{DistributionId, Timestamp};
use serde::{Deserialize, Serialize};

/// The type of a column, as the catalog's column schema names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// Whole numbers that fit 64 bits.
    Integer,
    /// Decimal numbers (64-bit floating point).
    Number,
    /// `true` or `false`.
    Boolean,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A date and time, stored as `YYYY-MM-DDTHH:MM:SS[.ffffff]` (in UTC when an offset was given).
    Datetime,
    /// Anything else.
    String,
}

impl ColumnType {
    /// Every type, in the order inference tries them.
    pub const ALL: [ColumnType; 6] = [
        Self::Integer,
        Self::Number,
        Self::Boolean,
        Self::Date,
        Self::Datetime,
        Self::String,
    ];

    /// The name used in schemas and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::Datetime => "datetime",
            Self::String => "string",
        }
    }

    /// The type named `name`; the catalog's `geometry` is kept as text.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "integer" => Self::Integer,
            "number" => Self::Number,
            "boolean" => Self::Boolean,
            "date" => Self::Date,
            "datetime" => Self::Datetime,
            "string" | "geometry" => Self::String,
            _ => return None,
        })
    }

    /// The value `text` stands for in a column of this type: `Null` for empty text, none
    /// when it is not of the type.
    pub fn value_of(self, text: &str) -> Option<Value> {
        let text = if self == Self::String {
            text
        } else {
            text.trim()
        };
        if text.is_empty() {
            return Some(Value::Null);
        }
        match self {
            Self::Integer => integer(text).map(Value::Int),
            Self::Number => number(text).map(Value::Float),
            Self::Boolean => match text.to_ascii_lowercase().as_str() {
                "true" => Some(Value::Int(1)),
                "false" => Some(Value::Int(0)),
                _ => None,
            },
            Self::Date => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .filter(|_| text.len() == 10)
                .map(|d| Value::Text(d.format("%Y-%m-%d").to_string())),
            Self::Datetime => datetime(text).map(Value::Text),
            Self::String => Some(Value::Text(text.to_owned())),
        }
    }
}

impl std::fmt::Display for ColumnType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A whole number as written in data: an optional sign and digits, no leading zero (a code
/// such as `007` is text), fitting 64 bits.
fn integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    text.parse().ok()
}

/// A decimal number as written in data (no `inf`, `NaN` or hex; no leading zero before
/// other digits).
fn number(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let mantissa = unsigned.split(['e', 'E']).next().unwrap_or(unsigned);
    let whole = mantissa.split('.').next().unwrap_or(mantissa);
    let plain = unsigned
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if !plain || !unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    if whole.len() > 1 && whole.starts_with('0') {
        return None;
    }
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A date and time in one of the forms data uses, normalised (offsets converted to UTC).
fn datetime(text: &str) -> Option<String> {
    let format = |t: NaiveDateTime| {
        if t.and_utc().timestamp_subsec_micros() == 0 {
            t.format("%Y-%m-%dT%H:%M:%S").to_string()
        } else {
            t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
        }
    };
    if let Ok(with_offset) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(format(with_offset.naive_utc()));
    }
    for pattern in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, pattern) {
            return Some(format(naive));
        }
    }
    None
}

/// One stored value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value.
    Null,
    /// An integer (also a boolean, as 0 or 1).
    Int(i64),
    /// A number.
    Float(f64),
    /// Text (also dates and date-times, in their normal form).
    Text(String),
}

/// A column of an ingested table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableColumn {
    /// The name in the file's header (or the JSON member's name).
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub column_type: ColumnType,
    /// Whether the distribution's schema marks it as holding sensitive information.
    pub sensitive: bool,
    /// Whether the table has an index on it.
    pub indexed: bool,
}

/// The state of an ingestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestionState {
    /// Reading the file and loading the table.
    Running,
    /// The table is complete; it answers row queries.
    Ready,
    /// The file could not be ingested; the previous table (if any) still answers.
    Failed,
    /// A newer ingestion replaced this one's table.
    Replaced,
}

impl IngestionState {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::Replaced => "replaced",
        }
    }

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "running" => Self::Running,
            "ready" => Self::Ready,
            "failed" => Self::Failed,
            "replaced" => Self::Replaced,
            _ => return None,
        })
    }
}

/// How a file's text is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// UTF-8 when the file is valid UTF-8, GB18030 otherwise.
    #[default]
    Detect,
    /// UTF-8 (a byte-order mark is skipped).
    Utf8,
    /// GB18030 (which includes GBK and GB2312).
    Gb18030,
}

/// The layout of a tabular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    /// Delimited text with a header row.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

impl SourceFormat {
    /// The layout a distribution's format or media type names, if it is tabular.
    pub fn of(format: &str, media_type: &str) -> Option<Self> {
        let format = format.to_ascii_lowercase();
        let media = media_type.to_ascii_lowercase();
        if format == "csv" || format == "tsv" || media.starts_with("text/csv") {
            Some(Self::Csv)
        } else if format == "ndjson"
            || format == "jsonl"
            || media.starts_with("application/x-ndjson")
            || media.starts_with("application/jsonl")
        {
            Some(Self::Ndjson)
        } else if format == "json" || media.starts_with("application/json") {
            Some(Self::Json)
        } else {
            None
        }
    }

    /// The layout of a distribution whose rows can be loaded: a file of a tabular format.
    pub fn of_file(
        kind: pdx_catalog::model::DistributionKind,
        format: &str,
        media_type: &str,
    ) -> Option<Self> {
        (kind == pdx_catalog::model::DistributionKind::File)
            .then(|| Self::of(format, media_type))
            .flatten()
    }
}

/// What a publisher may say about how to read a file; anything unsaid is detected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestOptions {
    /// The layout (default: from the distribution's format).
    #[serde(default)]
    pub format: Option<SourceFormat>,
    /// The text encoding.
    #[serde(default)]
    pub encoding: Encoding,
    /// The delimiter of a CSV file (default: the most frequent of `,` `;` tab `|` in its
    /// first line).
    #[serde(default)]
    pub delimiter: Option<char>,
    /// Column types that replace the inferred ones, by column name.
    #[serde(default)]
    pub types: std::collections::BTreeMap<String, ColumnType>,
}

/// A row of the file that was not loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRow {
    /// Its number among the file's data rows (the first is 1).
    pub row: u64,
    /// What was wrong.
    pub reason: String,
}

/// Rejected rows reported in full; beyond these only their count is kept.
pub const REPORTED_REJECTS: usize = 100;

/// One ingestion of a distribution's file into a table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ingestion {
    /// Its id (also names its table).
    pub id: uuid::Uuid,
    /// The distribution.
    pub distribution_id: DistributionId,
    /// The SHA-256 of the file ingested.
    pub sha256: String,
    /// Where it stands.
    pub state: IngestionState,
    /// The options it ran with.
    pub options: IngestOptions,
    /// The table's columns (known once the file has been read through).
    pub columns: Vec<TableColumn>,
    /// Bytes of the file read so far.
    pub bytes_read: u64,
    /// The file's size.
    pub bytes_total: u64,
    /// Rows loaded so far.
    pub rows_loaded: u64,
    /// Rows rejected so far.
    pub rows_rejected: u64,
    /// The first rejected rows, with their reasons.
    pub rejects: Vec<RejectedRow>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended.
    pub finished_at: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_becomes_a_value_of_the_type_or_is_refused() {
        let v = |t: ColumnType, s: &str| t.value_of(s);
        assert_eq!(v(ColumnType::Integer, " 42 "), Some(Value::Int(42)));
        assert_eq!(v(ColumnType::Integer, "-7"), Some(Value::Int(-7)));
        assert_eq!(v(ColumnType::Integer, "007"), None, "a code, not a number");
        assert_eq!(v(ColumnType::Integer, "1.5"), None);
        assert_eq!(v(ColumnType::Integer, "99999999999999999999"), None);
        assert_eq!(v(ColumnType::Integer, ""), Some(Value::Null));
        assert_eq!(v(ColumnType::Number, "1.5"), Some(Value::Float(1.5)));
        assert_eq!(v(ColumnType::Number, "-2e3"), Some(Value::Float(-2000.0)));
        assert_eq!(v(ColumnType::Number, "0.25"), Some(Value::Float(0.25)));
        assert_eq!(v(ColumnType::Number, "NaN"), None);
        assert_eq!(v(ColumnType::Number, "inf"), None);
        assert_eq!(v(ColumnType::Number, "0x10"), None);
        assert_eq!(v(ColumnType::Boolean, "TRUE"), Some(Value::Int(1)));
        assert_eq!(v(ColumnType::Boolean, "yes"), None);
        assert_eq!(
            v(ColumnType::Date, "2026-02-28"),
            Some(Value::Text("2026-02-28".into()))
        );
        assert_eq!(v(ColumnType::Date, "2026-02-30"), None);
        assert_eq!(v(ColumnType::Date, "2026-2-3"), None);
        assert_eq!(
            v(ColumnType::Datetime, "2026-03-01 08:30:00"),
            Some(Value::Text("2026-03-01T08:30:00".into()))
        );
        assert_eq!(
            v(ColumnType::Datetime, "2026-03-01T08:30:00+08:00"),
            Some(Value::Text("2026-03-01T00:30:00".into())),
            "offsets are converted to UTC"
        );
        assert_eq!(v(ColumnType::Datetime, "yesterday"), None);
        assert_eq!(
            v(ColumnType::String, " padded "),
            Some(Value::Text(" padded ".into()))
        );
    }

    #[test]
    fn tabular_formats_are_recognised() {
        assert_eq!(SourceFormat::of("CSV", ""), Some(SourceFormat::Csv));
        assert_eq!(
            SourceFormat::of("", "text/csv; charset=utf-8"),
            Some(SourceFormat::Csv)
        );
        assert_eq!(SourceFormat::of("JSON", ""), Some(SourceFormat::Json));
        assert_eq!(SourceFormat::of("NDJSON", ""), Some(SourceFormat::Ndjson));
        assert_eq!(SourceFormat::of("XLSX", "application/vnd.ms-excel"), None);
    }
}
