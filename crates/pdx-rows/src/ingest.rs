//! Ingesting a file: a first pass reads it through to learn its columns and their types (and,
//! when asked to detect, whether it is UTF-8), a second loads every row that fits those types
//! into a new table and reports the rows that do not. Both passes stream; memory holds one
//! batch of rows.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::RowsError;
use crate::model::{
    ColumnType, Encoding, IngestOptions, REPORTED_REJECTS, RejectedRow, SourceFormat, TableColumn,
    Value,
};
use crate::source::{self, Layout, Metered, Names};
use crate::tables::Loader;

/// Most columns a table may have.
pub(crate) const MAX_COLUMNS: usize = 500;
/// Columns longer than this (in characters, at most) are not indexed.
const INDEXED_MAX_CHARS: usize = 200;
/// Most columns indexed in one table (the first ones).
const MAX_INDEXES: usize = 32;

/// What the first pass learnt of each column.
#[derive(Debug, Clone)]
struct Seen {
    /// Types every value seen so far fits, as bits of [`ColumnType::ALL`].
    fits: u8,
    /// The longest value, in bytes.
    longest: usize,
    /// Whether any value was seen (a column without any is text).
    any: bool,
}

impl Default for Seen {
    fn default() -> Self {
        Self {
            fits: u8::MAX,
            longest: 0,
            any: false,
        }
    }
}

impl Seen {
    fn see(&mut self, text: &str) {
        self.longest = self.longest.max(text.len());
        if text.trim().is_empty() {
            return;
        }
        self.any = true;
        for (bit, column_type) in ColumnType::ALL.into_iter().enumerate() {
            let mask = 1u8 << bit;
            if self.fits & mask != 0 && column_type.value_of(text).is_none() {
                self.fits &= !mask;
            }
        }
    }

    fn column_type(&self) -> ColumnType {
        if !self.any {
            return ColumnType::String;
        }
        ColumnType::ALL
            .into_iter()
            .enumerate()
            .find(|(bit, _)| self.fits & (1 << bit) != 0)
            .map_or(ColumnType::String, |(_, t)| t)
    }
}

/// Progress shared with whoever watches the ingestion.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// Bytes of the file read (both passes: the second counts from zero again).
    pub(crate) bytes_read: Arc<AtomicU64>,
    /// Rows loaded.
    pub(crate) rows_loaded: AtomicU64,
    /// Rows rejected.
    pub(crate) rows_rejected: AtomicU64,
}

/// What the first pass found.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub(crate) layout: Layout,
    pub(crate) names: Names,
    pub(crate) columns: Vec<TableColumn>,
}

/// The declared facts about columns: types and the sensitive flag, by name, from the
/// distribution's column schema.
#[derive(Debug, Clone, Default)]
pub(crate) struct Declared {
    pub(crate) types: std::collections::BTreeMap<String, ColumnType>,
    pub(crate) sensitive: std::collections::BTreeSet<String>,
}

/// The first pass: the columns, their types and how the file is encoded.
pub(crate) fn survey(
    format: SourceFormat,
    options: &IngestOptions,
    declared: &Declared,
    open: &mut dyn FnMut() -> Result<Box<dyn Read + Send>, RowsError>,
    progress: &Progress,
) -> Result<Shape, RowsError> {
    let delimiter = match options.delimiter {
        Some(d) if d.is_ascii() && d != '"' && d != '\n' && d != '\r' => Some(d as u8),
        Some(_) => {
            return Err(RowsError::InvalidOptions {
                field: "delimiter".into(),
                message: "must be one ASCII character other than a quote or a line break".into(),
            });
        }
        None => None,
    };
    let mut layout = Layout {
        format,
        encoding: options.encoding,
        delimiter,
    };
    loop {
        let mut names = Names::default();
        let mut seen: Vec<Seen> = Vec::new();
        progress.bytes_read.store(0, Ordering::Relaxed);
        let mut input = Metered::new(open()?, Arc::clone(&progress.bytes_read));
        if layout.encoding == Encoding::Detect {
            input = input.checking_utf8();
        }
        let mut too_wide = false;
        source::each_row(layout, &mut input, &mut names, true, |_, cells, names| {
            if names.all().len() > MAX_COLUMNS {
                too_wide = true;
                return Ok(false);
            }
            if let Ok(cells) = cells {
                if seen.len() < cells.len() {
                    seen.resize(cells.len(), Seen::default());
                }
                for (i, cell) in cells.iter().enumerate() {
                    if let Some(text) = cell {
                        seen[i].see(text);
                    }
                }
            }
            Ok(true)
        })?;
        if too_wide || names.all().len() > MAX_COLUMNS {
            return Err(RowsError::Unreadable(format!(
                "the file has more than {MAX_COLUMNS} columns"
            )));
        }
        if layout.encoding == Encoding::Detect {
            if input.was_utf8() == Some(false) {
                // Not UTF-8: read it again as GB18030, the other encoding Chinese data uses.
                layout.encoding = Encoding::Gb18030;
                continue;
            }
            layout.encoding = Encoding::Utf8;
        }
        if names.all().is_empty() {
            return Err(RowsError::Unreadable(
                "the file has no columns (an empty file, or no header)".into(),
            ));
        }
        seen.resize(names.all().len(), Seen::default());
        let mut indexes = 0;
        let columns = names
            .all()
            .iter()
            .zip(&seen)
            .map(|(name, seen)| {
                let column_type = options
                    .types
                    .get(name)
                    .or_else(|| declared.types.get(name))
                    .copied()
                    .unwrap_or_else(|| seen.column_type());
                let indexed = indexes < MAX_INDEXES
                    && (column_type != ColumnType::String || seen.longest <= INDEXED_MAX_CHARS);
                indexes += usize::from(indexed);
                TableColumn {
                    name: name.clone(),
                    column_type,
                    sensitive: declared.sensitive.contains(name),
                    indexed,
                }
            })
            .collect();
        for name in options.types.keys() {
            if !names.all().contains(name) {
                return Err(RowsError::InvalidOptions {
                    field: format!("types.{name}"),
                    message: "the file has no such column".into(),
                });
            }
        }
        return Ok(Shape {
            layout,
            names,
            columns,
        });
    }
}

/// What the second pass did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Loaded {
    pub(crate) rows: u64,
    pub(crate) rejected: u64,
    pub(crate) rejects: Vec<RejectedRow>,
}

/// The second pass: every row whose values fit the columns' types goes into `loader`.
/// `checkpoint` is called every so many rows (to publish progress); it may stop the load.
pub(crate) fn load(
    shape: &Shape,
    mut input: Box<dyn Read + Send>,
    loader: &mut Loader<'_>,
    progress: &Progress,
    checkpoint: &mut dyn FnMut(&Progress) -> Result<(), RowsError>,
) -> Result<Loaded, RowsError> {
    let mut names = shape.names.clone();
    let mut loaded = Loaded::default();
    progress.bytes_read.store(0, Ordering::Relaxed);
    let mut metered = Metered::new(&mut input, Arc::clone(&progress.bytes_read));
    let columns = &shape.columns;
    source::each_row(
        shape.layout,
        &mut metered,
        &mut names,
        false,
        |number, cells, _| {
            let values = cells.and_then(|cells| {
                let mut values = Vec::with_capacity(columns.len());
                for (i, column) in columns.iter().enumerate() {
                    let value = match cells.get(i).and_then(Option::as_deref) {
                        None => Value::Null,
                        Some(text) => column.column_type.value_of(text).ok_or_else(|| {
                            format!(
                                "`{}`: `{}` is not a{} {} value",
                                column.name,
                                text.chars().take(60).collect::<String>(),
                                if column.column_type == ColumnType::Integer {
                                    "n"
                                } else {
                                    ""
                                },
                                column.column_type
                            )
                        })?,
                    };
                    values.push(value);
                }
                Ok(values)
            });
            match values {
                Ok(values) => {
                    loader.push(i64::try_from(number).unwrap_or(i64::MAX), values)?;
                    loaded.rows += 1;
                    progress.rows_loaded.store(loaded.rows, Ordering::Relaxed);
                }
                Err(reason) => {
                    loaded.rejected += 1;
                    progress
                        .rows_rejected
                        .store(loaded.rejected, Ordering::Relaxed);
                    if loaded.rejects.len() < REPORTED_REJECTS {
                        loaded.rejects.push(RejectedRow {
                            row: number,
                            reason,
                        });
                    }
                }
            }
            if (loaded.rows + loaded.rejected) % 50_000 == 0 {
                checkpoint(progress)?;
            }
            Ok(true)
        },
    )?;
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_column_gets_the_narrowest_type_all_its_values_fit() {
        let mut seen = vec![Seen::default(); 6];
        for row in [
            [
                "1",
                "1.5",
                "true",
                "2026-01-02",
                "2026-01-02 03:04:05",
                "007",
            ],
            ["-20", "3", "FALSE", "", "2026-01-02T03:04:05Z", "8"],
            ["", "", "", "2026-12-31", "", ""],
        ] {
            for (s, text) in seen.iter_mut().zip(row) {
                s.see(text);
            }
        }
        let types: Vec<ColumnType> = seen.iter().map(Seen::column_type).collect();
        assert_eq!(
            types,
            [
                ColumnType::Integer,
                ColumnType::Number,
                ColumnType::Boolean,
                ColumnType::Date,
                ColumnType::Datetime,
                ColumnType::String
            ]
        );
        assert_eq!(Seen::default().column_type(), ColumnType::String);
    }
}
