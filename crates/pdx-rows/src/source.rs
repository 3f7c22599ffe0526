//! Reading a tabular file as rows of text cells, streamed: CSV with a header (any common
//! delimiter), one JSON array of objects, or NDJSON; UTF-8 or GB18030, detected or declared.

use std::io::{BufRead, BufReader, Read};

use encoding_rs::{GB18030, UTF_8};
use encoding_rs_io::DecodeReaderBytesBuilder;

use crate::error::RowsError;
use crate::model::{Encoding, SourceFormat};

/// The columns met so far, in order: a CSV file's header, or every member name of a JSON
/// file's objects in the order first seen.
#[derive(Debug, Default, Clone)]
pub(crate) struct Names {
    names: Vec<String>,
    index: std::collections::HashMap<String, usize>,
}

impl Names {
    /// The names.
    pub(crate) fn all(&self) -> &[String] {
        &self.names
    }

    fn position(&mut self, name: &str, grow: bool) -> Option<usize> {
        if let Some(i) = self.index.get(name) {
            return Some(*i);
        }
        if !grow {
            return None;
        }
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), self.names.len() - 1);
        Some(self.names.len() - 1)
    }

    fn set(&mut self, names: Vec<String>) -> Result<(), String> {
        self.names.clear();
        self.index.clear();
        for name in names {
            let name = name.trim().to_owned();
            if name.is_empty() {
                return Err(format!(
                    "column {} of the header has no name",
                    self.names.len() + 1
                ));
            }
            if self.index.contains_key(&name) {
                return Err(format!("the header names `{name}` twice"));
            }
            self.position(&name, true);
        }
        Ok(())
    }
}

/// One data row: its cells in the order of [`Names`] (`None`: no value), or why it cannot be
/// read.
pub(crate) type Cells = Result<Vec<Option<String>>, String>;

/// How a file is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub(crate) format: SourceFormat,
    pub(crate) encoding: Encoding,
    pub(crate) delimiter: Option<u8>,
}

/// Counts the bytes read through it and, when asked, checks that they are UTF-8.
pub(crate) struct Metered<R> {
    inner: R,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
    utf8: Option<Utf8Check>,
}

/// An incremental UTF-8 check over a byte stream.
#[derive(Debug, Default)]
struct Utf8Check {
    pending: Vec<u8>,
    invalid: bool,
}

impl Utf8Check {
    fn feed(&mut self, bytes: &[u8]) {
        if self.invalid {
            return;
        }
        let joined;
        let chunk = if self.pending.is_empty() {
            bytes
        } else {
            self.pending.extend_from_slice(bytes);
            joined = std::mem::take(&mut self.pending);
            &joined
        };
        match std::str::from_utf8(chunk) {
            Ok(_) => self.pending.clear(),
            Err(e) if e.error_len().is_none() => {
                // A character cut at the chunk's end: keep its start for the next chunk.
                self.pending = chunk[e.valid_up_to()..].to_vec();
            }
            Err(_) => self.invalid = true,
        }
    }
}

impl<R: Read> Metered<R> {
    pub(crate) fn new(inner: R, read: std::sync::Arc<std::sync::atomic::AtomicU64>) -> Self {
        Self {
            inner,
            read,
            utf8: None,
        }
    }

    /// Also checks that what is read is UTF-8.
    pub(crate) fn checking_utf8(mut self) -> Self {
        self.utf8 = Some(Utf8Check::default());
        self
    }

    /// Whether everything read was UTF-8 (`None` when not checked).
    pub(crate) fn was_utf8(&self) -> Option<bool> {
        self.utf8
            .as_ref()
            .map(|c| !c.invalid && c.pending.is_empty())
    }
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        if let Some(check) = &mut self.utf8 {
            check.feed(&buf[..n]);
        }
        Ok(n)
    }
}

/// The most frequent of the common delimiters in `line` (`,` when none occurs).
fn sniff_delimiter(line: &str) -> u8 {
    [b',', b';', b'\t', b'|']
        .into_iter()
        .map(|d| (line.bytes().filter(|b| *b == d).count(), d))
        .max_by_key(|(count, d)| (*count, *d == b','))
        .filter(|(count, _)| *count > 0)
        .map_or(b',', |(_, d)| d)
}

/// Reads `input` as `layout` says, calling `row` with each data row's number (from 1) and
/// cells; `grow` lets JSON objects add columns (the first pass), otherwise members not in
/// `names` are refused. `row` returns `false` to stop.
pub(crate) fn each_row<R: Read>(
    layout: Layout,
    input: R,
    names: &mut Names,
    grow: bool,
    mut row: impl FnMut(u64, Cells, &Names) -> Result<bool, RowsError>,
) -> Result<(), RowsError> {
    let encoding = match layout.encoding {
        Encoding::Utf8 | Encoding::Detect => UTF_8,
        Encoding::Gb18030 => GB18030,
    };
    let text = DecodeReaderBytesBuilder::new()
        .encoding(Some(encoding))
        .bom_sniffing(layout.encoding != Encoding::Gb18030)
        .build(input);
    let mut text = BufReader::with_capacity(256 * 1024, text);
    match layout.format {
        SourceFormat::Csv => {
            let delimiter = match layout.delimiter {
                Some(d) => d,
                None => {
                    let peek = text.fill_buf().map_err(unreadable)?;
                    let first = String::from_utf8_lossy(peek);
                    sniff_delimiter(first.lines().next().unwrap_or(""))
                }
            };
            let mut csv = csv::ReaderBuilder::new()
                .delimiter(delimiter)
                .flexible(true)
                .has_headers(true)
                .from_reader(text);
            let header: Vec<String> = csv
                .headers()
                .map_err(|e| RowsError::Unreadable(format!("the header cannot be read: {e}")))?
                .iter()
                .map(str::to_owned)
                .collect();
            if grow {
                names.set(header).map_err(RowsError::Unreadable)?;
            } else if header
                .iter()
                .map(|h| h.trim())
                .ne(names.all().iter().map(String::as_str))
            {
                return Err(RowsError::Unreadable(
                    "the file's header changed while it was read".into(),
                ));
            }
            let width = names.all().len();
            let mut record = csv::StringRecord::new();
            let mut number = 0u64;
            loop {
                match csv.read_record(&mut record) {
                    Ok(false) => break,
                    Ok(true) => {
                        number += 1;
                        let cells = if record.len() == width {
                            Ok(record.iter().map(|c| Some(c.to_owned())).collect())
                        } else if record.len() == 1 && record.get(0) == Some("") {
                            // A blank line.
                            number -= 1;
                            continue;
                        } else {
                            Err(format!(
                                "has {} fields where the header has {width}",
                                record.len()
                            ))
                        };
                        if !row(number, cells, names)? {
                            break;
                        }
                    }
                    Err(e) if e.is_io_error() => return Err(unreadable(e)),
                    Err(e) => {
                        number += 1;
                        if !row(number, Err(format!("is not valid CSV: {e}")), names)? {
                            break;
                        }
                    }
                }
            }
            Ok(())
        }
        SourceFormat::Ndjson => {
            let mut line = String::new();
            let mut number = 0u64;
            loop {
                line.clear();
                if text.read_line(&mut line).map_err(unreadable)? == 0 {
                    break;
                }
                if line.trim().is_empty() {
                    continue;
                }
                number += 1;
                let cells = match serde_json::from_str::<Element>(&line) {
                    Ok(value) => object_cells(value, names, grow),
                    Err(e) => Err(format!("is not valid JSON: {e}")),
                };
                if !row(number, cells, names)? {
                    break;
                }
            }
            Ok(())
        }
        SourceFormat::Json => {
            let mut reader = serde_json::Deserializer::from_reader(text);
            let visitor = ArrayVisitor {
                names,
                grow,
                row: &mut row,
                number: 0,
            };
            match serde::Deserializer::deserialize_seq(&mut reader, visitor) {
                Ok(result) => result,
                Err(e) if e.is_io() => Err(unreadable(e)),
                Err(e) => Err(RowsError::Unreadable(format!(
                    "the file is not one JSON array of objects: {e}"
                ))),
            }
        }
    }
}

fn unreadable(e: impl std::fmt::Display) -> RowsError {
    RowsError::Unreadable(format!("the file cannot be read: {e}"))
}

/// One element of a JSON file: an object's members in the file's order (a JSON map would
/// sort them, and the columns should come in the file's order), or anything else.
enum Element {
    Object(Vec<(String, serde_json::Value)>),
    Other,
}

impl<'de> serde::Deserialize<'de> for Element {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Element;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Element, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, serde_json::Value>()? {
                    members.push(member);
                }
                Ok(Element::Object(members))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Element, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Element::Other)
            }

            fn visit_bool<E>(self, _: bool) -> Result<Element, E> {
                Ok(Element::Other)
            }

            fn visit_i64<E>(self, _: i64) -> Result<Element, E> {
                Ok(Element::Other)
            }

            fn visit_u64<E>(self, _: u64) -> Result<Element, E> {
                Ok(Element::Other)
            }

            fn visit_f64<E>(self, _: f64) -> Result<Element, E> {
                Ok(Element::Other)
            }

            fn visit_str<E>(self, _: &str) -> Result<Element, E> {
                Ok(Element::Other)
            }

            fn visit_unit<E>(self) -> Result<Element, E> {
                Ok(Element::Other)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The cells of one JSON object, in the order of `names`.
fn object_cells(value: Element, names: &mut Names, grow: bool) -> Cells {
    let Element::Object(members) = value else {
        return Err("is not a JSON object".into());
    };
    let mut cells = vec![None; names.all().len()];
    for (name, value) in members {
        let Some(i) = names.position(name.trim(), grow) else {
            return Err(format!("has the member `{name}`, not met before"));
        };
        if i >= cells.len() {
            cells.resize(i + 1, None);
        }
        cells[i] = match value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            nested => Some(nested.to_string()),
        };
    }
    Ok(cells)
}

/// Visits a JSON array element by element, so that only one object is in memory at a time.
struct ArrayVisitor<'a, F> {
    names: &'a mut Names,
    grow: bool,
    row: &'a mut F,
    number: u64,
}

impl<'de, F> serde::de::Visitor<'de> for ArrayVisitor<'_, F>
where
    F: FnMut(u64, Cells, &Names) -> Result<bool, RowsError>,
{
    type Value = Result<(), RowsError>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        mut self,
        mut seq: A,
    ) -> Result<Self::Value, A::Error> {
        while let Some(value) = seq.next_element::<Element>()? {
            self.number += 1;
            let cells = object_cells(value, self.names, self.grow);
            match (self.row)(self.number, cells, self.names) {
                Ok(true) => {}
                Ok(false) => {
                    // Drain the rest so the array is well-formed.
                    while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                    return Ok(Ok(()));
                }
                Err(e) => return Ok(Err(e)),
            }
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(layout: Layout, bytes: &[u8]) -> (Vec<String>, Vec<(u64, Cells)>) {
        let mut names = Names::default();
        let mut out = Vec::new();
        each_row(layout, bytes, &mut names, true, |n, cells, _| {
            out.push((n, cells));
            Ok(true)
        })
        .unwrap();
        (names.all().to_vec(), out)
    }

    fn csv(encoding: Encoding) -> Layout {
        Layout {
            format: SourceFormat::Csv,
            encoding,
            delimiter: None,
        }
    }

    #[test]
    fn csv_with_a_bom_and_semicolons_reads_its_header_and_rows() {
        let (names, rows) = read(
            csv(Encoding::Detect),
            "\u{feff}name;count\n\"a;b\";1\n\nc;2;extra\nd;\n".as_bytes(),
        );
        assert_eq!(names, ["name", "count"]);
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0].1,
            Ok(vec![Some("a;b".to_owned()), Some("1".to_owned())])
        );
        assert_eq!(rows[1].0, 2);
        assert!(rows[1].1.as_ref().unwrap_err().contains("3 fields"));
        assert_eq!(
            rows[2].1,
            Ok(vec![Some("d".to_owned()), Some(String::new())])
        );
    }

    #[test]
    fn gb18030_text_is_decoded() {
        let (encoded, _, _) = GB18030.encode("区县,人口\n福田区,1553225\n");
        let (names, rows) = read(csv(Encoding::Gb18030), &encoded);
        assert_eq!(names, ["区县", "人口"]);
        assert_eq!(
            rows[0].1,
            Ok(vec![Some("福田区".to_owned()), Some("1553225".to_owned())])
        );
    }

    #[test]
    fn json_arrays_and_ndjson_give_cells_by_member_name() {
        let json = Layout {
            format: SourceFormat::Json,
            encoding: Encoding::Utf8,
            delimiter: None,
        };
        let (names, rows) = read(
            json,
            br#"[{"a": 1, "b": "x"}, {"b": null, "c": true}, 5, {"a": {"n": 1}}]"#,
        );
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[1].1, Ok(vec![None, None, Some("true".to_owned())]));
        assert_eq!(rows[2].1, Err("is not a JSON object".into()));
        assert_eq!(
            rows[3].1,
            Ok(vec![Some(r#"{"n":1}"#.to_owned()), None, None])
        );
        let ndjson = Layout {
            format: SourceFormat::Ndjson,
            ..json
        };
        let (names, rows) = read(ndjson, b"{\"a\": 1}\nnot json\n\n{\"a\": 2}\n");
        assert_eq!(names, ["a"]);
        assert_eq!(rows.len(), 3);
        assert!(rows[1].1.is_err());
        assert_eq!(rows[2], (3, Ok(vec![Some("2".to_owned())])));
    }

    #[test]
    fn the_utf8_check_sees_a_character_cut_between_chunks_and_invalid_bytes() {
        let mut check = Utf8Check::default();
        let text = "福田".as_bytes();
        check.feed(&text[..2]);
        check.feed(&text[2..]);
        assert!(!check.invalid && check.pending.is_empty());
        let (gb, _, _) = GB18030.encode("福田");
        check.feed(&gb);
        assert!(check.invalid);
    }
}
