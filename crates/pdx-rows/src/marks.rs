//! Where the pages of a query that were served end. A loaded table never changes (a new load
//! is a new table), so a page at a larger offset of the same query starts after the nearest
//! such end, as a cursor would, and skips only the rows between instead of all before it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::model::Value;
use crate::query::{Limit, MAX_OFFSET, Plan};

/// Queries (table and conditions, search and sort) whose page ends are remembered.
const QUERIES: usize = 256;
/// Page ends remembered per query.
const PER_QUERY: usize = 128;
/// Bytes of text a remembered sort key may hold: with the counts above, at most 16 MiB.
const KEY_TEXT: usize = 512;

/// The last row before a position: its sort values and row number.
pub(crate) type Mark = (Vec<Value>, i64);

type Ends = Arc<Mutex<BTreeMap<u64, Mark>>>;

/// Page ends of the queries served lately.
pub(crate) struct Marks {
    queries: quick_cache::sync::Cache<(uuid::Uuid, String), Ends>,
}

impl std::fmt::Debug for Marks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Marks").finish_non_exhaustive()
    }
}

/// What the rows' positions depend on: not the columns delivered, the limit or the offset.
fn query_of(plan: &Plan) -> String {
    format!(
        "{:?}\u{1f}{:?}\u{1f}{:?}",
        plan.conditions, plan.text, plan.sort
    )
}

/// Whether a plan's pages are counted from the first row (no cursor) in pages of a size.
fn counted(plan: &Plan) -> bool {
    plan.after.is_none() && matches!(plan.limit, Limit::Rows(_))
}

impl Marks {
    pub(crate) fn new() -> Self {
        Self {
            queries: quick_cache::sync::Cache::new(QUERIES),
        }
    }

    /// The nearest remembered page end at or before the plan's offset: its position, and
    /// the row the rows from there come after.
    pub(crate) fn before(&self, table: uuid::Uuid, plan: &Plan) -> Option<(u64, Mark)> {
        if !counted(plan) || plan.offset == 0 {
            return None;
        }
        let ends = self.queries.get(&(table, query_of(plan)))?;
        let ends = ends.lock().unwrap_or_else(PoisonError::into_inner);
        ends.range(1..=plan.offset)
            .next_back()
            .map(|(position, mark)| (*position, mark.clone()))
    }

    /// Notes that the plan's rows from `position` on come after `mark`.
    pub(crate) fn note(&self, table: uuid::Uuid, plan: &Plan, position: u64, mark: Mark) {
        let text: usize = mark
            .0
            .iter()
            .map(|v| match v {
                Value::Text(t) => t.len(),
                _ => 0,
            })
            .sum();
        if !counted(plan) || position == 0 || position > MAX_OFFSET || text > KEY_TEXT {
            return;
        }
        let key = (table, query_of(plan));
        let ends = match self.queries.get(&key) {
            Some(ends) => ends,
            None => {
                let ends = Ends::default();
                self.queries.insert(key, Arc::clone(&ends));
                ends
            }
        };
        let mut ends = ends.lock().unwrap_or_else(PoisonError::into_inner);
        if ends.len() < PER_QUERY || ends.contains_key(&position) {
            ends.insert(position, mark);
        }
    }
}
