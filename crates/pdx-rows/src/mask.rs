//! Column rights: which columns a reader receives as they are, which masked and how, and the
//! masks themselves. Open data never shows a sensitive column; a grant shows what its rules
//! allow; the publishing agency sees everything.

use std::collections::BTreeMap;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::model::{ColumnType, TableColumn, Value};

/// How a column that is not delivered as it is appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum Mask {
    /// Left out of the answer.
    Drop,
    /// Replaced by a keyed hash, the same for the same value under one grant and different
    /// under another: rows can be joined within a grant but not across grants.
    Hash,
    /// All but the last `characters` characters replaced by `*`.
    KeepLast {
        /// Characters kept at the end (1 to 16).
        characters: u8,
    },
    /// A date or date-time cut to its month (`YYYY-MM`); any other column is dropped.
    Month,
}

/// A grant's column rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnRules {
    /// The columns delivered as they are; none: every column not marked sensitive. A column
    /// marked sensitive is delivered as it is only when it is listed here.
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// How columns not delivered as they are appear, by name; a column in neither is dropped.
    #[serde(default)]
    pub masks: BTreeMap<String, Mask>,
}

/// Most columns a set of rules may name.
const MAX_RULE_COLUMNS: usize = 256;
/// Longest column name a rule may hold.
const MAX_RULE_NAME: usize = 200;

impl ColumnRules {
    /// Checks the rules' sizes and masks; the column names are matched against each table
    /// when it is read (a distribution may be re-ingested with other columns).
    pub fn check(&self) -> Result<(), String> {
        let names = self.allow.iter().flatten().chain(self.masks.keys());
        if self.allow.as_ref().map_or(0, Vec::len) + self.masks.len() > MAX_RULE_COLUMNS {
            return Err(format!("at most {MAX_RULE_COLUMNS} columns may be named"));
        }
        for name in names {
            if name.trim().is_empty() || name.chars().count() > MAX_RULE_NAME {
                return Err(format!(
                    "column names must be 1 to {MAX_RULE_NAME} characters"
                ));
            }
        }
        for (name, mask) in &self.masks {
            if let Mask::KeepLast { characters } = mask
                && !(1..=16).contains(characters)
            {
                return Err(format!("`{name}`: keep_last keeps 1 to 16 characters"));
            }
            if self.allow.as_ref().is_some_and(|a| a.contains(name)) {
                return Err(format!("`{name}` is both allowed and masked"));
            }
        }
        Ok(())
    }
}

/// Who reads a table, as far as its columns are concerned.
#[derive(Debug, Clone)]
pub enum Audience {
    /// The publishing agency: every column as it is.
    Owner,
    /// Anyone, for open data: every column not marked sensitive.
    Public,
    /// A grant's holder: as the grant's rules say, hashes keyed for the grant.
    Grant {
        /// The grant's rules (none: every column not marked sensitive).
        rules: ColumnRules,
        /// The grant's hashing key.
        key: [u8; 32],
    },
}

/// How one column appears in an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// As it is.
    Plain,
    /// Hashed with the grant's key.
    Hash,
    /// All but the last characters replaced.
    KeepLast(u8),
    /// Cut to the month.
    Month,
}

impl Shown {
    /// The mask's name, for the answer's column list (none when shown as it is).
    pub fn mask_name(self) -> Option<&'static str> {
        match self {
            Self::Plain => None,
            Self::Hash => Some("hash"),
            Self::KeepLast(_) => Some("keep_last"),
            Self::Month => Some("month"),
        }
    }
}

/// The columns one reader receives, in the table's order.
#[derive(Debug, Clone)]
pub struct View {
    /// For each column of the table (by position), how it is shown; `None`: left out.
    pub shown: Vec<Option<Shown>>,
    key: Option<[u8; 32]>,
}

impl View {
    /// What `audience` receives of a table with `columns`.
    pub fn of(audience: &Audience, columns: &[TableColumn]) -> Self {
        let shown = columns
            .iter()
            .map(|column| match audience {
                Audience::Owner => Some(Shown::Plain),
                Audience::Public => (!column.sensitive).then_some(Shown::Plain),
                Audience::Grant { rules, .. } => {
                    let allowed = match &rules.allow {
                        Some(allow) => allow.iter().any(|a| a == &column.name),
                        None => !column.sensitive,
                    };
                    if allowed {
                        return Some(Shown::Plain);
                    }
                    match rules.masks.get(&column.name) {
                        None | Some(Mask::Drop) => None,
                        Some(Mask::Hash) => Some(Shown::Hash),
                        Some(Mask::KeepLast { characters }) => {
                            Some(Shown::KeepLast((*characters).clamp(1, 16)))
                        }
                        Some(Mask::Month) => {
                            matches!(column.column_type, ColumnType::Date | ColumnType::Datetime)
                                .then_some(Shown::Month)
                        }
                    }
                }
            })
            .collect();
        let key = match audience {
            Audience::Grant { key, .. } => Some(*key),
            _ => None,
        };
        Self { shown, key }
    }

    /// Whether column `i` is delivered as it is (so it may be filtered, sorted and searched).
    pub fn plain(&self, i: usize) -> bool {
        self.shown.get(i).copied().flatten() == Some(Shown::Plain)
    }

    /// Whether column `i` is in the answer at all.
    pub fn delivered(&self, i: usize) -> bool {
        self.shown.get(i).copied().flatten().is_some()
    }

    /// The value of column `i` as this reader receives it.
    pub fn present(&self, i: usize, column: &TableColumn, value: Value) -> Value {
        let Some(shown) = self.shown.get(i).copied().flatten() else {
            return Value::Null;
        };
        if value == Value::Null {
            return Value::Null;
        }
        match shown {
            Shown::Plain => value,
            Shown::Hash => {
                let text = text_of(column, &value);
                Value::Text(self.hash(&text))
            }
            Shown::KeepLast(n) => {
                let text = text_of(column, &value);
                let count = text.chars().count();
                let keep = usize::from(n).min(count);
                let hidden = if count <= usize::from(n) {
                    // A value no longer than what is kept is hidden whole.
                    count
                } else {
                    count - keep
                };
                let mut masked = "*".repeat(hidden);
                if hidden < count {
                    masked.extend(text.chars().skip(hidden));
                }
                Value::Text(masked)
            }
            Shown::Month => {
                let text = text_of(column, &value);
                Value::Text(text.chars().take(7).collect())
            }
        }
    }

    fn hash(&self, text: &str) -> String {
        let key = self.key.unwrap_or([0; 32]);
        match <Hmac<Sha256> as KeyInit>::new_from_slice(&key) {
            Ok(mut mac) => {
                mac.update(text.as_bytes());
                hex::encode(&mac.finalize().into_bytes()[..16])
            }
            Err(_) => String::new(),
        }
    }
}

/// A value as text, as it is written in CSV.
pub(crate) fn text_of(column: &TableColumn, value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Int(n) if column.column_type == ColumnType::Boolean => (*n != 0).to_string(),
        Value::Int(n) => n.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Text(t) => t.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, column_type: ColumnType, sensitive: bool) -> TableColumn {
        TableColumn {
            name: name.into(),
            column_type,
            sensitive,
            indexed: false,
        }
    }

    fn table() -> Vec<TableColumn> {
        vec![
            column("name", ColumnType::String, false),
            column("id_number", ColumnType::String, true),
            column("born", ColumnType::Date, true),
            column("phone", ColumnType::String, false),
        ]
    }

    fn grant(rules: ColumnRules, key: u8) -> Audience {
        Audience::Grant {
            rules,
            key: [key; 32],
        }
    }

    #[test]
    fn sensitive_columns_are_left_out_unless_a_grant_allows_them() {
        let columns = table();
        let public = View::of(&Audience::Public, &columns);
        assert_eq!(
            public.shown,
            [Some(Shown::Plain), None, None, Some(Shown::Plain)]
        );
        let owner = View::of(&Audience::Owner, &columns);
        assert!(owner.shown.iter().all(|s| *s == Some(Shown::Plain)));
        let default_grant = View::of(&grant(ColumnRules::default(), 1), &columns);
        assert_eq!(default_grant.shown, public.shown);
        let listed = ColumnRules {
            allow: Some(vec!["name".into(), "id_number".into()]),
            masks: BTreeMap::new(),
        };
        let listed = View::of(&grant(listed, 1), &columns);
        assert_eq!(
            listed.shown,
            [Some(Shown::Plain), Some(Shown::Plain), None, None],
            "a list allows only what it lists, sensitive or not"
        );
    }

    #[test]
    fn masks_follow_their_rule() {
        let columns = table();
        let rules = ColumnRules {
            allow: Some(vec!["name".into()]),
            masks: BTreeMap::from([
                ("id_number".into(), Mask::Hash),
                ("born".into(), Mask::Month),
                ("phone".into(), Mask::KeepLast { characters: 4 }),
            ]),
        };
        let view = View::of(&grant(rules.clone(), 1), &columns);
        let text = |s: &str| Value::Text(s.into());
        let phone = view.present(3, &columns[3], text("13800138000"));
        assert_eq!(phone, text("*******8000"));
        assert_eq!(view.present(3, &columns[3], text("123")), text("***"));
        assert_eq!(
            view.present(2, &columns[2], text("1990-03-07")),
            text("1990-03")
        );
        let hashed = view.present(1, &columns[1], text("110101199003071234"));
        let Value::Text(hashed) = hashed else {
            panic!()
        };
        assert_eq!(hashed.len(), 32);
        assert!(!hashed.contains("1234"));
        assert_eq!(
            view.present(1, &columns[1], text("110101199003071234")),
            Value::Text(hashed.clone()),
            "the same value hashes the same under one grant"
        );
        let other = View::of(&grant(rules, 2), &columns);
        assert_ne!(
            other.present(1, &columns[1], text("110101199003071234")),
            Value::Text(hashed),
            "and differently under another"
        );
        assert_eq!(view.present(1, &columns[1], Value::Null), Value::Null);
        assert!(view.plain(0) && !view.plain(1) && view.delivered(1));
    }

    #[test]
    fn month_on_a_column_that_is_not_a_date_drops_it() {
        let columns = table();
        let rules = ColumnRules {
            allow: None,
            masks: BTreeMap::from([("phone".into(), Mask::Month)]),
        };
        let rules = ColumnRules {
            allow: Some(vec!["name".into()]),
            ..rules
        };
        let view = View::of(&grant(rules, 1), &columns);
        assert_eq!(view.shown[3], None);
    }

    #[test]
    fn rules_are_checked() {
        let mut rules = ColumnRules {
            allow: Some(vec!["a".into()]),
            masks: BTreeMap::from([("a".into(), Mask::Hash)]),
        };
        assert!(rules.check().is_err(), "allowed and masked");
        rules.allow = None;
        assert!(rules.check().is_ok());
        rules
            .masks
            .insert("b".into(), Mask::KeepLast { characters: 0 });
        assert!(rules.check().is_err());
        let parsed: Result<ColumnRules, _> =
            serde_json::from_str(r#"{"masks": {"x": {"rule": "keep_last", "characters": 4}}}"#);
        assert!(parsed.is_ok());
        let unknown: Result<ColumnRules, _> =
            serde_json::from_str(r#"{"masks": {"x": {"rule": "reveal"}}}"#);
        assert!(
            unknown.is_err(),
            "an unknown mask is refused, never ignored"
        );
    }
}
