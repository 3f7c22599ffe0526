//! Answers written whole before they are served — so the ledger entry can say exactly how many
//! rows and bytes leave — into a spool that stays in memory while small and moves to an
//! unnamed temporary file when large: JSON (with paging), CSV or NDJSON, masks applied.

use std::io::{Seek, Write};

use crate::mask::View;
use crate::model::{ColumnType, TableColumn, Value};

/// The answer's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One JSON object: the columns, the rows as objects, the total and the next cursor.
    Json,
    /// A header line and one line per row.
    Csv,
    /// One JSON object per row and line.
    Ndjson,
    /// CKAN's `datastore_search` answer: `{help, success, result: {resource_id, fields,
    /// records, total, limit, offset, _links}}`.
    Ckan,
}

/// What a CKAN answer says beside its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CkanEnvelope {
    /// The `help` link.
    pub help: String,
    /// The resource (distribution) id.
    pub resource_id: String,
    /// The path and query of the first page (`_links.start`).
    pub start: String,
}

/// CKAN DataStore's name for a column type.
fn ckan_type(column_type: ColumnType) -> &'static str {
    match column_type {
        ColumnType::Integer => "int8",
        ColumnType::Number => "float8",
        ColumnType::Boolean => "bool",
        ColumnType::Date => "date",
        ColumnType::Datetime => "timestamp",
        ColumnType::String => "text",
    }
}

impl OutputFormat {
    /// The media type served.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Json | Self::Ckan => "application/json",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Ndjson => "application/x-ndjson",
        }
    }

    /// The format named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "json" => Some(Self::Json),
            "csv" => Some(Self::Csv),
            "ndjson" => Some(Self::Ndjson),
            _ => None,
        }
    }
}

/// Bytes kept in memory before a spool moves to a temporary file.
const IN_MEMORY: usize = 4 * 1024 * 1024;

/// Where an answer is written.
#[derive(Debug)]
pub enum Spool {
    /// Still small.
    Memory(Vec<u8>),
    /// Moved to an unnamed temporary file.
    File(std::fs::File, u64),
}

impl Default for Spool {
    fn default() -> Self {
        Self::Memory(Vec::with_capacity(16 * 1024))
    }
}

impl Spool {
    /// The bytes written.
    pub fn len(&self) -> u64 {
        match self {
            Self::Memory(bytes) => bytes.len() as u64,
            Self::File(_, len) => *len,
        }
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes written, read back whole (blocking: a spooled file is read from the disk).
    pub fn into_bytes(self) -> std::io::Result<Vec<u8>> {
        match self.rewind()? {
            Self::Memory(bytes) => Ok(bytes),
            Self::File(mut file, len) => {
                let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                std::io::Read::read_to_end(&mut file, &mut bytes)?;
                Ok(bytes)
            }
        }
    }

    /// Ready to be read from the start.
    pub fn rewind(mut self) -> std::io::Result<Self> {
        if let Self::File(file, _) = &mut self {
            file.rewind()?;
        }
        Ok(self)
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Memory(bytes) if bytes.len() + buf.len() > IN_MEMORY => {
                let mut file = tempfile::tempfile()?;
                file.write_all(bytes)?;
                file.write_all(buf)?;
                *self = Self::File(file, (bytes.len() + buf.len()) as u64);
            }
            Self::Memory(bytes) => bytes.extend_from_slice(buf),
            Self::File(file, len) => {
                file.write_all(buf)?;
                *len += buf.len() as u64;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Memory(_) => Ok(()),
            Self::File(file, _) => file.flush(),
        }
    }
}

/// Writes an answer's rows in its format.
pub(crate) struct Renderer<'a> {
    format: OutputFormat,
    table: &'a [TableColumn],
    columns: &'a [usize],
    view: &'a View,
    out: std::io::BufWriter<Spool>,
    csv: Option<csv::Writer<Spool>>,
    ckan: Option<CkanEnvelope>,
    rows: u64,
    /// Each delivered column's JSON member name with its colon, encoded once.
    keys: Vec<Vec<u8>>,
    /// A number's text, for a CSV field.
    field: String,
}

impl<'a> Renderer<'a> {
    /// Starts an answer of `columns` (positions in `table`) as `view` shows them.
    pub(crate) fn start(
        format: OutputFormat,
        table: &'a [TableColumn],
        columns: &'a [usize],
        view: &'a View,
        ckan: Option<CkanEnvelope>,
    ) -> std::io::Result<Self> {
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, Spool::default());
        let names: Vec<String> = columns.iter().map(|i| table[*i].name.clone()).collect();
        match format {
            OutputFormat::Json => {
                let described: Vec<serde_json::Value> = columns
                    .iter()
                    .map(|i| {
                        let column = &table[*i];
                        let mut d = serde_json::json!({
                            "name": column.name,
                            "type": column.column_type.as_str(),
                        });
                        if let Some(mask) = view.shown[*i].and_then(|s| s.mask_name()) {
                            d["mask"] = serde_json::Value::from(mask);
                        }
                        d
                    })
                    .collect();
                out.write_all(b"{\"columns\":")?;
                serde_json::to_writer(&mut out, &described)?;
                out.write_all(b",\"rows\":[")?;
            }
            OutputFormat::Ckan => {
                let envelope = ckan
                    .as_ref()
                    .ok_or_else(|| std::io::Error::other("a CKAN answer needs its envelope"))?;
                let fields: Vec<serde_json::Value> = columns
                    .iter()
                    .map(|i| {
                        let column = &table[*i];
                        serde_json::json!({"id": column.name, "type": ckan_type(column.column_type)})
                    })
                    .collect();
                out.write_all(b"{\"help\":")?;
                serde_json::to_writer(&mut out, &envelope.help)?;
                out.write_all(b",\"success\":true,\"result\":{\"resource_id\":")?;
                serde_json::to_writer(&mut out, &envelope.resource_id)?;
                out.write_all(b",\"fields\":")?;
                serde_json::to_writer(&mut out, &fields)?;
                out.write_all(b",\"records\":[")?;
            }
            OutputFormat::Csv | OutputFormat::Ndjson => {}
        }
        let csv = match format {
            OutputFormat::Csv => {
                let mut csv = csv::WriterBuilder::new()
                    .buffer_capacity(64 * 1024)
                    .from_writer(Spool::default());
                csv.write_record(&names).map_err(std::io::Error::other)?;
                Some(csv)
            }
            _ => None,
        };
        Ok(Self {
            format,
            table,
            columns,
            view,
            out,
            csv,
            ckan,
            rows: 0,
            keys: names
                .iter()
                .map(|name| {
                    let mut key = serde_json::to_vec(name).unwrap_or_default();
                    key.push(b':');
                    key
                })
                .collect(),
            field: String::with_capacity(32),
        })
    }

    /// Writes one row: `values` holds the table's selected values in the order of `columns`.
    pub(crate) fn row(&mut self, values: &mut [Value]) -> std::io::Result<()> {
        let shown = self
            .columns
            .iter()
            .zip(values.iter_mut())
            .map(|(i, value)| {
                let column = &self.table[*i];
                (
                    column,
                    self.view
                        .present(*i, column, std::mem::replace(value, Value::Null)),
                )
            });
        match self.format {
            OutputFormat::Json | OutputFormat::Ndjson | OutputFormat::Ckan => {
                if self.format != OutputFormat::Ndjson && self.rows > 0 {
                    self.out.write_all(b",")?;
                }
                // Members in the table's order (a JSON map would sort them).
                self.out.write_all(b"{")?;
                for (n, ((column, value), key)) in shown.zip(&self.keys).enumerate() {
                    if n > 0 {
                        self.out.write_all(b",")?;
                    }
                    self.out.write_all(key)?;
                    match value {
                        Value::Null => self.out.write_all(b"null")?,
                        Value::Int(n) if column.column_type == ColumnType::Boolean => {
                            self.out
                                .write_all(if n != 0 { b"true" } else { b"false" })?;
                        }
                        Value::Int(n) => serde_json::to_writer(&mut self.out, &n)?,
                        Value::Float(f) => serde_json::to_writer(&mut self.out, &f)?,
                        Value::Text(t) => serde_json::to_writer(&mut self.out, &t)?,
                    }
                }
                self.out.write_all(b"}")?;
                if self.format == OutputFormat::Ndjson {
                    self.out.write_all(b"\n")?;
                }
            }
            OutputFormat::Csv => {
                if let Some(csv) = &mut self.csv {
                    for (column, value) in shown {
                        // Numbers are written through one buffer, not a string each.
                        let field = &mut self.field;
                        field.clear();
                        match &value {
                            Value::Text(text) => csv.write_field(text.as_bytes()),
                            Value::Null => csv.write_field(b""),
                            Value::Int(n) if column.column_type == ColumnType::Boolean => {
                                csv.write_field(if *n != 0 { "true" } else { "false" })
                            }
                            Value::Int(n) => {
                                std::fmt::Write::write_fmt(field, format_args!("{n}"))
                                    .map_err(std::io::Error::other)?;
                                csv.write_field(field.as_bytes())
                            }
                            Value::Float(f) => {
                                std::fmt::Write::write_fmt(field, format_args!("{f}"))
                                    .map_err(std::io::Error::other)?;
                                csv.write_field(field.as_bytes())
                            }
                        }
                        .map_err(std::io::Error::other)?;
                    }
                    csv.write_record(None::<&[u8]>)
                        .map_err(std::io::Error::other)?;
                }
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Ends the answer; a JSON answer gets its paging members. Returns the spool and the rows.
    pub(crate) fn finish(
        mut self,
        total: Option<u64>,
        limit: Option<u64>,
        offset: u64,
        next: Option<&str>,
    ) -> std::io::Result<(Spool, u64)> {
        if self.format == OutputFormat::Json {
            self.out.write_all(b"]")?;
            if let Some(total) = total {
                write!(self.out, ",\"total\":{total}")?;
            }
            match limit {
                Some(limit) => write!(self.out, ",\"limit\":{limit}")?,
                None => self.out.write_all(b",\"limit\":null")?,
            }
            write!(self.out, ",\"offset\":{offset},\"next\":")?;
            serde_json::to_writer(&mut self.out, &next)?;
            self.out.write_all(b"}")?;
        }
        if let (OutputFormat::Ckan, Some(envelope)) = (self.format, &self.ckan) {
            self.out.write_all(b"]")?;
            if let Some(total) = total {
                write!(self.out, ",\"total\":{total}")?;
            }
            let limit = limit.unwrap_or(self.rows);
            write!(
                self.out,
                ",\"limit\":{limit},\"offset\":{offset},\"_links\":{{\"start\":"
            )?;
            serde_json::to_writer(&mut self.out, &envelope.start)?;
            if next.is_some() {
                let following = format!("{}&offset={}", envelope.start, offset + limit);
                self.out.write_all(b",\"next\":")?;
                serde_json::to_writer(&mut self.out, &following)?;
            }
            self.out.write_all(b"}}}")?;
        }
        let spool = match self.csv {
            Some(csv) => csv.into_inner().map_err(|e| e.into_error())?,
            None => self.out.into_inner().map_err(|e| e.into_error())?,
        };
        Ok((spool.rewind()?, self.rows))
    }
}
