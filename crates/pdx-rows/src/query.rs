//! Row queries: what a client asks (columns, filters, text, sort, paging), checked against the
//! table's columns and the reader's view, and turned into SQL whose identifiers are all the
//! table's own (`c0`, `c1`, …) and whose values are all bound parameters.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pdx_storage::Backend;
use serde::{Deserialize, Serialize};

use crate::error::RowsError;
use crate::mask::View;
use crate::model::{ColumnType, TableColumn, Value};

/// Rows of a page when the client does not say.
pub const DEFAULT_LIMIT: u64 = 100;
/// Most rows of a JSON page.
pub const MAX_PAGE: u64 = 10_000;
/// Largest offset; beyond it, pages are followed with `after`.
pub const MAX_OFFSET: u64 = 10_000;
/// Most filters in one query, and most values in one `in` list.
const MAX_FILTERS: usize = 32;
const MAX_IN_VALUES: usize = 100;
/// Longest value of a filter or text search.
const MAX_VALUE_CHARS: usize = 1_000;

/// How many rows are asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// At most this many.
    Rows(u64),
    /// Every row that matches (an export, in CSV or NDJSON).
    All,
}

/// A row query as the client wrote it; names are resolved by [`RowQuery::plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowQuery {
    /// The columns wanted, in order (none: every column the reader receives).
    pub columns: Option<Vec<String>>,
    /// Filters, each `column:op[:value]`.
    pub filters: Vec<String>,
    /// Text that must occur in one of the text columns (case-insensitive for ASCII letters).
    pub q: Option<String>,
    /// Sort columns, each optionally prefixed by `-` for descending.
    pub sort: Vec<String>,
    /// How many rows.
    pub limit: Limit,
    /// Rows to skip (small offsets).
    pub offset: u64,
    /// The cursor of the previous page's last row.
    pub after: Option<String>,
    /// Whether to count every matching row.
    pub total: bool,
}

impl Default for RowQuery {
    fn default() -> Self {
        Self {
            columns: None,
            filters: Vec::new(),
            q: None,
            sort: Vec::new(),
            limit: Limit::Rows(DEFAULT_LIMIT),
            offset: 0,
            after: None,
            total: false,
        }
    }
}

/// A sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Smallest first, no value before any value.
    Ascending,
    /// Largest first, no value after any value.
    Descending,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `=`
    Eq,
    /// `<>` (rows without a value do not match)
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `>`
    Gt,
    /// `>=`
    Gte,
}

impl Comparison {
    fn sql(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "<>",
            Self::Lt => "<",
            Self::Lte => "<=",
            Self::Gt => ">",
            Self::Gte => ">=",
        }
    }
}

/// A condition on one column (by position).
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Compared with a value.
    Compare(usize, Comparison, Value),
    /// One of the values.
    In(usize, Vec<Value>),
    /// Has no value (`true`) or has one (`false`).
    Null(usize, bool),
}

/// A query resolved against a table and a reader: positions of columns, typed values.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The columns delivered, in order.
    pub columns: Vec<usize>,
    /// Conditions every row must meet.
    pub conditions: Vec<Condition>,
    /// Text searched for (ASCII-lower-cased) and the columns searched.
    pub text: Option<(String, Vec<usize>)>,
    /// Sort columns; `_row` breaks ties.
    pub sort: Vec<(usize, Direction)>,
    /// Start after this row: its sort values and its row number.
    pub after: Option<(Vec<Value>, i64)>,
    /// How many rows.
    pub limit: Limit,
    /// Rows skipped.
    pub offset: u64,
    /// Whether to count every matching row.
    pub total: bool,
    /// The indexed column that the only condition fixes to one value, when the rows are read
    /// in the table's order: they are then one range of that column's index (`(column,
    /// _row)`), whatever the value.
    pub anchor: Option<usize>,
}

/// What a cursor holds: the last row's sort values, its row number, and the sort it was made
/// for (a cursor is valid only with the same sort).
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    s: String,
    k: Vec<serde_json::Value>,
    r: i64,
}

impl RowQuery {
    /// Resolves the query against a table's columns and what the reader may see: only
    /// delivered columns may be asked for, and only those delivered as they are may be
    /// filtered, sorted or searched (a filter on a masked column would reveal it).
    pub fn plan(&self, table: &[TableColumn], view: &View) -> Result<Plan, RowsError> {
        let find = |name: &str, parameter: &'static str| -> Result<usize, RowsError> {
            table
                .iter()
                .position(|c| c.name == name)
                .filter(|i| view.delivered(*i))
                .ok_or_else(|| RowsError::UnknownColumn {
                    column: name.to_owned(),
                    parameter,
                })
        };
        let plain = |name: &str, parameter: &'static str| -> Result<usize, RowsError> {
            let i = find(name, parameter)?;
            if view.plain(i) {
                Ok(i)
            } else {
                Err(RowsError::MaskedColumn {
                    column: name.to_owned(),
                    parameter,
                })
            }
        };
        let columns = match &self.columns {
            Some(names) => {
                let mut positions = Vec::with_capacity(names.len());
                for name in names {
                    let i = find(name, "columns")?;
                    if !positions.contains(&i) {
                        positions.push(i);
                    }
                }
                positions
            }
            None => (0..table.len()).filter(|i| view.delivered(*i)).collect(),
        };
        if self.filters.len() > MAX_FILTERS {
            return Err(RowsError::query(
                "filter",
                format!("at most {MAX_FILTERS} filters"),
            ));
        }
        let mut conditions = Vec::with_capacity(self.filters.len());
        for filter in &self.filters {
            conditions.push(condition(filter, table, &plain)?);
        }
        let text = match self.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            Some(q) if q.chars().count() > MAX_VALUE_CHARS => {
                return Err(RowsError::query(
                    "q",
                    format!("at most {MAX_VALUE_CHARS} characters"),
                ));
            }
            Some(q) => {
                let searched = (0..table.len())
                    .filter(|i| view.plain(*i) && table[*i].column_type == ColumnType::String)
                    .collect();
                Some((q.to_ascii_lowercase(), searched))
            }
            None => None,
        };
        let mut sort = Vec::with_capacity(self.sort.len());
        for key in &self.sort {
            let (name, direction) = match key.strip_prefix('-') {
                Some(name) if table.iter().all(|c| c.name != *key) => (name, Direction::Descending),
                _ => (key.as_str(), Direction::Ascending),
            };
            let i = plain(name, "sort")?;
            if sort.iter().all(|(j, _)| *j != i) {
                sort.push((i, direction));
            }
        }
        let limit = self.limit;
        if self.offset > MAX_OFFSET {
            return Err(RowsError::query(
                "offset",
                format!("at most {MAX_OFFSET}; follow `next` (the `after` cursor) beyond it"),
            ));
        }
        let after = match &self.after {
            None => None,
            Some(_) if self.offset > 0 => {
                return Err(RowsError::query(
                    "after",
                    "use either `after` or `offset`, not both",
                ));
            }
            Some(cursor) => Some(read_cursor(cursor, &self.sort, &sort, table)?),
        };
        let anchor = match (conditions.as_slice(), &text, sort.is_empty()) {
            ([Condition::Compare(i, Comparison::Eq, value)], None, true)
                if table[*i].indexed && *value != Value::Null =>
            {
                Some(*i)
            }
            _ => None,
        };
        Ok(Plan {
            columns,
            conditions,
            text,
            sort,
            after,
            limit,
            offset: self.offset,
            total: self.total,
            anchor,
        })
    }
}

/// The sort as a cursor records it.
fn sort_signature(sort: &[String]) -> String {
    sort.join(",")
}

/// The cursor that continues after a row with these sort values and row number.
pub fn cursor(sort: &[String], values: &[Value], row: i64) -> String {
    let k = values
        .iter()
        .map(|v| match v {
            Value::Null => serde_json::Value::Null,
            Value::Int(n) => serde_json::Value::from(*n),
            Value::Float(f) => serde_json::Value::from(*f),
            Value::Text(t) => serde_json::Value::from(t.as_str()),
        })
        .collect();
    let cursor = Cursor {
        s: sort_signature(sort),
        k,
        r: row,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap_or_default())
}

fn read_cursor(
    text: &str,
    written: &[String],
    sort: &[(usize, Direction)],
    table: &[TableColumn],
) -> Result<(Vec<Value>, i64), RowsError> {
    let bad = || RowsError::query("after", "is not a cursor of this query's pages");
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| bad())?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if cursor.s != sort_signature(written) || cursor.k.len() != sort.len() {
        return Err(bad());
    }
    let mut values = Vec::with_capacity(sort.len());
    for ((i, _), value) in sort.iter().zip(cursor.k) {
        let value = match (table[*i].column_type, value) {
            (_, serde_json::Value::Null) => Value::Null,
            (ColumnType::Integer | ColumnType::Boolean, serde_json::Value::Number(n)) => {
                Value::Int(n.as_i64().ok_or_else(bad)?)
            }
            (ColumnType::Number, serde_json::Value::Number(n)) => {
                Value::Float(n.as_f64().ok_or_else(bad)?)
            }
            (
                ColumnType::String | ColumnType::Date | ColumnType::Datetime,
                serde_json::Value::String(s),
            ) => Value::Text(s),
            _ => return Err(bad()),
        };
        values.push(value);
    }
    Ok((values, cursor.r))
}

/// Operators of a filter, as written.
pub const OPERATORS: [&str; 9] = [
    "eq", "ne", "lt", "lte", "gt", "gte", "in", "null", "notnull",
];

/// Splits a filter `column:op[:value]` into its column, operator and value. A column name
/// may itself hold `:`: the split is the first one after which an operator follows and before
/// which stands a column that `known` accepts, else the last one after which an operator
/// follows; `None` when no operator follows any `:`.
pub fn split_filter(
    filter: &str,
    known: impl Fn(&str) -> bool,
) -> Option<(&str, &str, Option<&str>)> {
    let mut split = None;
    for (at, _) in filter.match_indices(':') {
        let (name, rest) = (&filter[..at], &filter[at + 1..]);
        let (op, value) = match rest.split_once(':') {
            Some((op, value)) => (op, Some(value)),
            None => (rest, None),
        };
        if OPERATORS.contains(&op) {
            split = Some((name, op, value));
            if known(name) {
                break;
            }
        }
    }
    split
}

/// Parses `column:op[:value]`. A column name may itself hold `:`: the split is the first one
/// after which an operator follows and before which stands a column the reader is shown.
fn condition(
    filter: &str,
    table: &[TableColumn],
    plain: &impl Fn(&str, &'static str) -> Result<usize, RowsError>,
) -> Result<Condition, RowsError> {
    let malformed = || {
        RowsError::query(
            "filter",
            format!(
                "`{}` is not `column:operator:value` (operators: {})",
                filter.chars().take(100).collect::<String>(),
                OPERATORS.join(", ")
            ),
        )
    };
    // Only a column the reader is shown decides the split: preferring any column of the
    // table would tell a hidden column's name from one that does not exist.
    let (name, op, value) = split_filter(filter, |name| {
        matches!(
            plain(name, "filter"),
            Ok(_) | Err(RowsError::MaskedColumn { .. })
        )
    })
    .ok_or_else(malformed)?;
    let i = plain(name, "filter")?;
    let column = &table[i];
    let typed = |text: &str| -> Result<Value, RowsError> {
        if text.chars().count() > MAX_VALUE_CHARS {
            return Err(RowsError::query(
                "filter",
                format!("values are at most {MAX_VALUE_CHARS} characters"),
            ));
        }
        match column.column_type.value_of(text) {
            Some(Value::Null) | None => Err(RowsError::query(
                "filter",
                format!(
                    "`{}` is not a value of `{name}`, a {} column",
                    text.chars().take(100).collect::<String>(),
                    column.column_type
                ),
            )),
            // A number column compares with numbers, whole or not.
            Some(Value::Int(n)) if column.column_type == ColumnType::Number => {
                Ok(Value::Float(n as f64))
            }
            Some(value) => Ok(value),
        }
    };
    let compare = |comparison| -> Result<Condition, RowsError> {
        let value = value.ok_or_else(malformed)?;
        Ok(Condition::Compare(i, comparison, typed(value)?))
    };
    match op {
        "eq" => compare(Comparison::Eq),
        "ne" => compare(Comparison::Ne),
        "lt" => compare(Comparison::Lt),
        "lte" => compare(Comparison::Lte),
        "gt" => compare(Comparison::Gt),
        "gte" => compare(Comparison::Gte),
        "in" => {
            let value = value.ok_or_else(malformed)?;
            let items: Vec<String> = if value.trim_start().starts_with('[') {
                serde_json::from_str::<Vec<serde_json::Value>>(value)
                    .map_err(|_| malformed())?
                    .into_iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    })
                    .collect()
            } else {
                value.split(',').map(str::to_owned).collect()
            };
            if items.is_empty() || items.len() > MAX_IN_VALUES {
                return Err(RowsError::query(
                    "filter",
                    format!("`in` takes 1 to {MAX_IN_VALUES} values"),
                ));
            }
            let values = items
                .iter()
                .map(|item| typed(item))
                .collect::<Result<_, _>>()?;
            Ok(Condition::In(i, values))
        }
        "null" if value.is_none() => Ok(Condition::Null(i, true)),
        "notnull" if value.is_none() => Ok(Condition::Null(i, false)),
        _ => Err(malformed()),
    }
}

/// A statement and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The SQL, with `$1`, `$2`, … placeholders.
    pub sql: String,
    /// The values bound to them, in order.
    pub params: Vec<Value>,
    /// At most how many rows it answers (its `LIMIT`); `None` when unbounded.
    pub rows: Option<u64>,
    /// Whether one plan is right for every value bound, so that PostgreSQL may plan it once
    /// instead of for each query's values.
    pub fixed_plan: bool,
}

/// The SQL name of column `i`.
pub(crate) fn column_name(i: usize) -> String {
    format!("c{i}")
}

/// The values bound so far, each named by its placeholder.
struct Builder {
    params: Vec<Value>,
}

impl Builder {
    fn bind(&mut self, value: Value) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }
}

impl Plan {
    /// The columns the statement selects after `_row`: the delivered ones, then sort columns
    /// that are not delivered (the cursor needs their values).
    pub fn selected(&self) -> Vec<usize> {
        let mut selected = self.columns.clone();
        for (i, _) in &self.sort {
            if !selected.contains(i) {
                selected.push(*i);
            }
        }
        selected
    }

    fn conditions_sql(&self, backend: Backend, b: &mut Builder, keyset: bool) -> Vec<String> {
        let mut parts = Vec::new();
        for condition in &self.conditions {
            parts.push(match condition {
                Condition::Compare(i, comparison, value) => {
                    let p = b.bind(value.clone());
                    format!("{} {} {p}", column_name(*i), comparison.sql())
                }
                Condition::In(i, values) => {
                    let ps: Vec<String> = values.iter().map(|v| b.bind(v.clone())).collect();
                    format!("{} IN ({})", column_name(*i), ps.join(", "))
                }
                Condition::Null(i, true) => format!("{} IS NULL", column_name(*i)),
                Condition::Null(i, false) => format!("{} IS NOT NULL", column_name(*i)),
            });
        }
        if let Some((text, columns)) = &self.text {
            if columns.is_empty() {
                parts.push("1 = 0".into());
            } else {
                let p = b.bind(Value::Text(text.clone()));
                let found: Vec<String> = columns
                    .iter()
                    .map(|i| match backend {
                        Backend::Sqlite => format!("instr(lower({}), {p}) > 0", column_name(*i)),
                        Backend::Postgres => {
                            format!("strpos(lower({}), {p}) > 0", column_name(*i))
                        }
                    })
                    .collect();
                parts.push(format!("({})", found.join(" OR ")));
            }
        }
        if keyset && let Some((values, row)) = &self.after {
            parts.push(self.after_sql(b, values, *row));
        }
        // A table file's connection checks its query's time on every row read (PostgreSQL
        // has a statement timeout instead): first, so that no other condition can skip it.
        // Only where SQLite may read rows it does not deliver: rows that pass conditions, or
        // a sort before the first row. Reading in row order unfiltered delivers each row read
        // (checked as delivered), and an unfiltered count stays SQLite's quick b-tree count.
        let sorted = keyset && !self.sort.is_empty();
        if backend == Backend::Sqlite && (!parts.is_empty() || sorted) {
            parts.insert(0, "pdx_in_time()".to_owned());
        }
        parts
    }

    /// Rows after the cursor's, in the sort's order (no value sorts first ascending and last
    /// descending, as `NULLS FIRST` / `NULLS LAST` say on both backends).
    fn after_sql(&self, b: &mut Builder, values: &[Value], row: i64) -> String {
        let mut alternatives = Vec::new();
        for k in 0..=self.sort.len() {
            let mut all = Vec::new();
            for ((i, _), value) in self.sort[..k].iter().zip(values) {
                all.push(match value {
                    Value::Null => format!("{} IS NULL", column_name(*i)),
                    v => format!("{} = {}", column_name(*i), b.bind(v.clone())),
                });
            }
            if k == self.sort.len() {
                all.push(format!("_row > {}", b.bind(Value::Int(row))));
            } else {
                let (i, direction) = self.sort[k];
                let c = column_name(i);
                let next = match (direction, &values[k]) {
                    (Direction::Ascending, Value::Null) => format!("{c} IS NOT NULL"),
                    (Direction::Ascending, v) => format!("{c} > {}", b.bind(v.clone())),
                    (Direction::Descending, Value::Null) => "1 = 0".to_owned(),
                    (Direction::Descending, v) => {
                        format!("({c} < {} OR {c} IS NULL)", b.bind(v.clone()))
                    }
                };
                all.push(next);
            }
            alternatives.push(format!("({})", all.join(" AND ")));
        }
        format!("({})", alternatives.join(" OR "))
    }

    /// The statement that reads the rows: `_row`, then [`Plan::selected`].
    pub fn select(&self, backend: Backend, table: &str) -> Statement {
        let mut b = Builder { params: Vec::new() };
        let columns: Vec<String> = self.selected().into_iter().map(column_name).collect();
        let mut sql = String::from("SELECT _row");
        for c in &columns {
            sql.push_str(", ");
            sql.push_str(c);
        }
        sql.push_str(" FROM ");
        sql.push_str(table);
        let range = self.index_range(backend);
        let conditions = match range {
            Some((i, value)) => self.index_range_sql(&mut b, i, value),
            None => self.conditions_sql(backend, &mut b, true),
        };
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(" ORDER BY ");
        if let Some((i, _)) = range {
            sql.push_str(&column_name(i));
            sql.push_str(" ASC, ");
        }
        for (i, direction) in &self.sort {
            sql.push_str(&column_name(*i));
            sql.push_str(match direction {
                Direction::Ascending => " ASC NULLS FIRST, ",
                Direction::Descending => " DESC NULLS LAST, ",
            });
        }
        sql.push_str("_row ASC");
        if let Limit::Rows(n) = self.limit {
            let limit = b.bind(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)));
            sql.push_str(&format!(" LIMIT {limit}"));
            if self.offset > 0 {
                let offset = b.bind(Value::Int(i64::try_from(self.offset).unwrap_or(0)));
                sql.push_str(&format!(" OFFSET {offset}"));
            }
        } else if self.offset > 0 {
            let offset = b.bind(Value::Int(i64::try_from(self.offset).unwrap_or(0)));
            match backend {
                Backend::Sqlite => sql.push_str(&format!(" LIMIT -1 OFFSET {offset}")),
                Backend::Postgres => sql.push_str(&format!(" OFFSET {offset}")),
            }
        }
        Statement {
            sql,
            params: b.params,
            rows: match self.limit {
                Limit::Rows(n) => Some(n),
                Limit::All => None,
            },
            fixed_plan: range.is_some(),
        }
    }

    /// The anchor column and its value, where a page is read on PostgreSQL as a range of the
    /// column's index. Planned for its values, PostgreSQL finds that range itself; but planning
    /// costs as much as reading a page, and a plan made once for any value (on the column's
    /// average) may walk the table in row order instead, which for a rare value reads all of
    /// it. Written as a range in the index's order, the statement has only one good plan.
    fn index_range(&self, backend: Backend) -> Option<(usize, &Value)> {
        match (backend, self.anchor, self.limit, self.conditions.as_slice()) {
            (
                Backend::Postgres,
                Some(i),
                Limit::Rows(_),
                [Condition::Compare(j, Comparison::Eq, value)],
            ) if i == *j => Some((i, value)),
            _ => None,
        }
    }

    /// `column = value` (and after the cursor's row) as bounds of the index `(column, _row)`:
    /// the same rows, in the same order, as the anchor's condition in the table's order.
    fn index_range_sql(&self, b: &mut Builder, i: usize, value: &Value) -> Vec<String> {
        let c = column_name(i);
        let v = b.bind(value.clone());
        match &self.after {
            Some((_, row)) => {
                let r = b.bind(Value::Int(*row));
                vec![format!("({c}, _row) > ({v}, {r})"), format!("{c} <= {v}")]
            }
            None => vec![format!("{c} >= {v}"), format!("{c} <= {v}")],
        }
    }

    /// The statement that counts every matching row (paging aside).
    pub fn count(&self, backend: Backend, table: &str) -> Statement {
        let mut b = Builder { params: Vec::new() };
        let mut sql = format!("SELECT count(*) AS n FROM {table}");
        let conditions = self.conditions_sql(backend, &mut b, false);
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        Statement {
            sql,
            params: b.params,
            rows: Some(1),
            fixed_plan: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::{Audience, ColumnRules, Mask};
    use std::collections::BTreeMap;

    fn table() -> Vec<TableColumn> {
        let c = |name: &str, column_type, sensitive| TableColumn {
            name: name.into(),
            column_type,
            sensitive,
            indexed: true,
        };
        vec![
            c("name", ColumnType::String, false),
            c("amount", ColumnType::Number, false),
            c("id_number", ColumnType::String, true),
            c("time:zone", ColumnType::String, false),
            c("-odd", ColumnType::Integer, false),
        ]
    }

    fn plan(query: RowQuery, audience: &Audience) -> Result<Plan, RowsError> {
        let table = table();
        query.plan(&table, &View::of(audience, &table))
    }

    #[test]
    fn filters_resolve_names_with_colons_and_type_their_values() {
        let query = RowQuery {
            filters: vec![
                "time:zone:eq:UTC+8".into(),
                "amount:gte:10".into(),
                "name:in:[\"a,b\",\"c\"]".into(),
                "name:notnull".into(),
            ],
            ..RowQuery::default()
        };
        let plan = plan(query, &Audience::Public).unwrap();
        assert_eq!(
            plan.conditions,
            [
                Condition::Compare(3, Comparison::Eq, Value::Text("UTC+8".into())),
                Condition::Compare(1, Comparison::Gte, Value::Float(10.0)),
                Condition::In(0, vec![Value::Text("a,b".into()), Value::Text("c".into())]),
                Condition::Null(0, false),
            ]
        );
        assert_eq!(
            plan.columns,
            [0, 1, 3, 4],
            "the sensitive column is left out"
        );
    }

    #[test]
    fn bad_filters_are_refused_with_the_parameter_named() {
        for (filter, parameter) in [
            ("amount:gte:lots", "filter"),
            ("amount:between:1", "filter"),
            ("amount", "filter"),
            ("nothing:eq:1", "filter"),
            ("amount:null:1", "filter"),
        ] {
            let query = RowQuery {
                filters: vec![filter.into()],
                ..RowQuery::default()
            };
            let error = plan(query, &Audience::Public).unwrap_err();
            let named = match &error {
                RowsError::InvalidQuery { parameter, .. }
                | RowsError::UnknownColumn { parameter, .. } => *parameter,
                other => panic!("{other:?}"),
            };
            assert_eq!(named, parameter, "{filter}: {error}");
        }
    }

    #[test]
    fn a_hidden_column_is_unknown_and_a_masked_one_cannot_be_filtered_sorted_or_searched() {
        let hidden = RowQuery {
            filters: vec!["id_number:eq:110101199003071234".into()],
            ..RowQuery::default()
        };
        assert!(matches!(
            plan(hidden.clone(), &Audience::Public),
            Err(RowsError::UnknownColumn { .. })
        ));
        let masked = Audience::Grant {
            rules: ColumnRules {
                allow: None,
                masks: BTreeMap::from([("id_number".into(), Mask::Hash)]),
            },
            key: [1; 32],
        };
        assert!(matches!(
            plan(hidden, &masked),
            Err(RowsError::MaskedColumn { .. })
        ));
        let sorted = RowQuery {
            sort: vec!["-id_number".into()],
            ..RowQuery::default()
        };
        assert!(matches!(
            plan(sorted, &masked),
            Err(RowsError::MaskedColumn { .. })
        ));
        let searched = RowQuery {
            q: Some("1234".into()),
            ..RowQuery::default()
        };
        let plan = plan(searched, &masked).unwrap();
        assert_eq!(
            plan.text,
            Some(("1234".into(), vec![0, 3])),
            "only text columns delivered as they are are searched"
        );
        assert_eq!(
            plan.columns,
            [0, 1, 2, 3, 4],
            "the masked column is delivered"
        );
    }

    #[test]
    fn sql_binds_every_value_and_names_only_the_tables_columns() {
        let query = RowQuery {
            filters: vec!["name:eq:x'); DROP TABLE rows; --".into()],
            q: Some("Bus".into()),
            sort: vec!["-amount".into(), "-odd".into()],
            limit: Limit::Rows(100),
            ..RowQuery::default()
        };
        let plan = plan(query, &Audience::Public).unwrap();
        assert_eq!(
            plan.sort,
            [(1, Direction::Descending), (4, Direction::Ascending)]
        );
        let statement = plan.select(Backend::Sqlite, "rows");
        assert_eq!(
            statement.sql,
            "SELECT _row, c0, c1, c3, c4 FROM rows WHERE pdx_in_time() AND c0 = $1 AND \
             (instr(lower(c0), $2) > 0 \
             OR instr(lower(c3), $2) > 0) ORDER BY c1 DESC NULLS LAST, c4 ASC NULLS FIRST, \
             _row ASC LIMIT $3"
        );
        assert_eq!(
            statement.params,
            [
                Value::Text("x'); DROP TABLE rows; --".into()),
                Value::Text("bus".into()),
                Value::Int(100)
            ]
        );
        let pg = plan.count(Backend::Postgres, "row_table_x");
        assert!(pg.sql.contains("strpos(lower(c0), $2) > 0"), "{}", pg.sql);
    }

    #[test]
    fn sqlite_checks_the_time_wherever_it_may_read_rows_it_does_not_deliver() {
        let sql = |query: RowQuery| {
            let plan = plan(query, &Audience::Public).unwrap();
            (
                plan.select(Backend::Sqlite, "rows").sql,
                plan.count(Backend::Sqlite, "rows").sql,
            )
        };
        let (select, count) = sql(RowQuery::default());
        assert!(!select.contains("pdx_in_time"), "{select}");
        assert_eq!(count, "SELECT count(*) AS n FROM rows", "the b-tree count");
        let (select, _) = sql(RowQuery {
            sort: vec!["-amount".into()],
            ..RowQuery::default()
        });
        assert!(select.contains("WHERE pdx_in_time() ORDER BY"), "{select}");
        let (select, count) = sql(RowQuery {
            filters: vec!["name:eq:x".into()],
            ..RowQuery::default()
        });
        assert!(
            select.contains("WHERE pdx_in_time() AND c0 = $1"),
            "{select}"
        );
        assert!(count.contains("WHERE pdx_in_time() AND c0 = $1"), "{count}");
        let pg = plan(
            RowQuery {
                filters: vec!["name:eq:x".into()],
                ..RowQuery::default()
            },
            &Audience::Public,
        )
        .unwrap()
        .select(Backend::Postgres, "rows")
        .sql;
        assert!(
            !pg.contains("pdx_in_time"),
            "PostgreSQL has statement_timeout: {pg}"
        );
    }

    #[test]
    fn one_equality_in_the_tables_order_is_read_on_postgresql_as_a_range_of_its_index() {
        let select = |query: RowQuery, backend| {
            plan(query, &Audience::Public)
                .unwrap()
                .select(backend, "rows")
        };
        let first = RowQuery {
            filters: vec!["name:eq:Bus".into()],
            limit: Limit::Rows(100),
            ..RowQuery::default()
        };
        let statement = select(first.clone(), Backend::Postgres);
        assert_eq!(
            statement.sql,
            "SELECT _row, c0, c1, c3, c4 FROM rows WHERE c0 >= $1 AND c0 <= $1 \
             ORDER BY c0 ASC, _row ASC LIMIT $2"
        );
        assert_eq!(
            statement.params,
            [Value::Text("Bus".into()), Value::Int(100)]
        );
        assert!(statement.fixed_plan);
        // The next page starts at the cursor's row within the value's range of the index.
        let next = RowQuery {
            after: Some(cursor(&[], &[], 41)),
            ..first.clone()
        };
        let statement = select(next.clone(), Backend::Postgres);
        assert_eq!(
            statement.sql,
            "SELECT _row, c0, c1, c3, c4 FROM rows WHERE (c0, _row) > ($1, $2) AND c0 <= $1 \
             ORDER BY c0 ASC, _row ASC LIMIT $3"
        );
        assert_eq!(
            statement.params,
            [Value::Text("Bus".into()), Value::Int(41), Value::Int(100)]
        );
        assert!(statement.fixed_plan);
        // SQLite plans a statement once when it prepares it, on the index: the plain form.
        let statement = select(next, Backend::Sqlite);
        assert!(!statement.fixed_plan);
        assert!(
            statement
                .sql
                .contains("c0 = $1 AND ((_row > $2)) ORDER BY _row ASC"),
            "{}",
            statement.sql
        );
        // Anything else is planned for its values.
        for other in [
            RowQuery {
                filters: vec!["name:eq:Bus".into(), "amount:gt:2".into()],
                ..first.clone()
            },
            RowQuery {
                filters: vec!["name:in:Bus,Tram".into()],
                ..first.clone()
            },
            RowQuery {
                filters: vec!["name:gte:Bus".into()],
                ..first.clone()
            },
            RowQuery {
                filters: vec!["name:null".into()],
                ..first.clone()
            },
            RowQuery {
                sort: vec!["name".into()],
                ..first.clone()
            },
            RowQuery {
                q: Some("bus".into()),
                ..first.clone()
            },
            RowQuery {
                limit: Limit::All,
                ..first.clone()
            },
        ] {
            let statement = select(other.clone(), Backend::Postgres);
            assert!(!statement.fixed_plan, "{other:?}: {}", statement.sql);
            assert!(
                !statement.sql.contains("c0 <="),
                "{other:?}: {}",
                statement.sql
            );
        }
        // A column without an index has no range to read.
        let mut columns = table();
        columns[0].indexed = false;
        let view = View::of(&Audience::Public, &columns);
        let unindexed = first.plan(&columns, &view).unwrap();
        assert_eq!(unindexed.anchor, None);
        assert!(!unindexed.select(Backend::Postgres, "rows").fixed_plan);
    }

    #[test]
    fn cursors_continue_the_same_sort_only() {
        let sort = vec!["-amount".to_owned()];
        let token = cursor(&sort, &[Value::Float(2.5)], 41);
        let query = RowQuery {
            sort,
            after: Some(token),
            ..RowQuery::default()
        };
        let planned = plan(query.clone(), &Audience::Public).unwrap();
        assert_eq!(planned.after, Some((vec![Value::Float(2.5)], 41)));
        let statement = planned.select(Backend::Sqlite, "rows");
        assert!(
            statement
                .sql
                .contains("((c1 < $1 OR c1 IS NULL)) OR (c1 = $2 AND _row > $3)"),
            "{}",
            statement.sql
        );
        let other_sort = RowQuery {
            sort: vec!["amount".into()],
            ..query.clone()
        };
        assert!(plan(other_sort, &Audience::Public).is_err());
        let forged = RowQuery {
            after: Some("bm90IGEgY3Vyc29y".into()),
            ..query.clone()
        };
        assert!(plan(forged, &Audience::Public).is_err());
        let both = RowQuery {
            offset: 10,
            ..query
        };
        assert!(plan(both, &Audience::Public).is_err());
    }
}
