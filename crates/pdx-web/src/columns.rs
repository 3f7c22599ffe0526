//! Column rules in the agency's forms: the table that chooses, for each column of a dataset's
//! loaded tables, how a grant's holder receives it, and reading those choices back as rules.

use std::collections::BTreeMap;

use maud::{Markup, html};
use pdx_catalog::model::Distribution;
use pdx_rows::RowService;
use pdx_rows::mask::{Audience, ColumnRules, Mask, Shown, View};
use pdx_rows::model::{ColumnType, TableColumn};

use crate::forms::Problem;
use crate::i18n::Arg;
use crate::page::Ctx;

/// The columns of a dataset's loaded tables, each name once (as the first table has it).
pub(crate) async fn of_dataset(
    rows: &RowService,
    files: &[Distribution],
) -> Result<Vec<TableColumn>, pdx_rows::RowsError> {
    let mut columns: Vec<TableColumn> = Vec::new();
    for file in files {
        if let Some(table) = rows.table(file.id).await? {
            for column in &table.columns {
                if !columns.iter().any(|c| c.name == column.name) {
                    columns.push(column.clone());
                }
            }
        }
    }
    Ok(columns)
}

/// How `rules` (none: as each column is marked) deliver each of `columns`.
fn shown(rules: Option<&ColumnRules>, columns: &[TableColumn]) -> Vec<Option<Shown>> {
    let audience = Audience::Grant {
        rules: rules.cloned().unwrap_or_default(),
        key: [0; 32],
    };
    View::of(&audience, columns).shown
}

/// Whether two sets of rules deliver `columns` alike.
pub(crate) fn same_effect(
    a: Option<&ColumnRules>,
    b: Option<&ColumnRules>,
    columns: &[TableColumn],
) -> bool {
    shown(a, columns) == shown(b, columns)
}

/// The choices of one column, with the value each sends.
const CHOICES: [(&str, &str); 5] = [
    ("plain", "columns-plain"),
    ("hash", "columns-hash"),
    ("keep_last", "columns-keep-last"),
    ("month", "columns-month"),
    ("drop", "columns-drop"),
];

/// The fieldset choosing how each column is delivered, showing what `rules` do now.
pub(crate) fn fieldset(
    ctx: &Ctx,
    columns: &[TableColumn],
    rules: Option<&ColumnRules>,
    problem: Option<&Problem>,
) -> Markup {
    let current = shown(rules, columns);
    html! {
        fieldset.field.column-rules.invalid[problem.is_some()] {
            legend { (ctx.t("columns-title")) }
            p.hint { (ctx.t("columns-hint")) }
            @if let Some(problem) = problem { p.field-error { (problem.message) } }
            div.table-wrap {
                table {
                    thead { tr {
                        th scope="col" { (ctx.t("rows-column")) }
                        th scope="col" { (ctx.t("rows-sensitive")) }
                        th scope="col" { (ctx.t("columns-delivered")) }
                        th scope="col" { (ctx.t("columns-characters")) }
                    } }
                    tbody {
                        @for (i, (column, shown)) in columns.iter().zip(&current).enumerate() {
                            @let chosen = match shown {
                                None => "drop",
                                Some(Shown::Plain) => "plain",
                                Some(Shown::Hash) => "hash",
                                Some(Shown::KeepLast(_)) => "keep_last",
                                Some(Shown::Month) => "month",
                            };
                            @let kept = match shown { Some(Shown::KeepLast(n)) => n.to_string(), _ => String::new() };
                            @let dated = matches!(column.column_type, ColumnType::Date | ColumnType::Datetime);
                            tr {
                                th scope="row" {
                                    code #{ "rule-name-" (i) } { (column.name) }
                                    input type="hidden" name="rule_column" value=(column.name);
                                }
                                td { (ctx.t(if column.sensitive { "rows-yes" } else { "rows-no" })) }
                                td {
                                    select #{ "rule-" (i) } name="rule" aria-labelledby={ "rule-name-" (i) } {
                                        @for (value, key) in CHOICES {
                                            @if value != "month" || dated {
                                                option value=(value) selected[value == chosen] { (ctx.t(key)) }
                                            }
                                        }
                                    }
                                }
                                td {
                                    input #{ "rule-characters-" (i) } type="number" name="rule_characters" min="1" max="16"
                                        inputmode="numeric" value=(kept)
                                        aria-label=(ctx.lang.t_with("columns-characters-of", &[("column", Arg::Text(column.name.clone()))]));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The rules a posted [`fieldset`] chose, always explicit (the columns delivered as they are
/// listed); `None` when the form had no column rules; `Err` with the translation key of what
/// is wrong.
pub(crate) fn from_form(body: &[u8]) -> Option<Result<ColumnRules, &'static str>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let field = |name: &str| -> Vec<&str> {
        pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let (names, choices, characters) = (
        field("rule_column"),
        field("rule"),
        field("rule_characters"),
    );
    if names.is_empty() {
        return None;
    }
    if choices.len() != names.len() || characters.len() != names.len() {
        return Some(Err("columns-invalid"));
    }
    let mut allow = Vec::new();
    let mut masks = BTreeMap::new();
    for ((name, choice), kept) in names.iter().zip(&choices).zip(&characters) {
        let name = (*name).to_owned();
        match *choice {
            "plain" => allow.push(name),
            "hash" => {
                masks.insert(name, Mask::Hash);
            }
            "month" => {
                masks.insert(name, Mask::Month);
            }
            "drop" => {
                masks.insert(name, Mask::Drop);
            }
            "keep_last" => match kept.trim().parse::<u8>() {
                Ok(characters @ 1..=16) => {
                    masks.insert(name, Mask::KeepLast { characters });
                }
                _ => return Some(Err("columns-characters-invalid")),
            },
            _ => return Some(Err("columns-invalid")),
        }
    }
    let rules = ColumnRules {
        allow: Some(allow),
        masks,
    };
    Some(rules.check().map(|()| rules).map_err(|_| "columns-invalid"))
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

    #[test]
    fn posted_choices_become_explicit_rules() {
        let body = b"csrf=x&rule_column=name&rule=plain&rule_characters=\
            &rule_column=id_number&rule=keep_last&rule_characters=4\
            &rule_column=born&rule=month&rule_characters=\
            &rule_column=phone&rule=hash&rule_characters=\
            &rule_column=note&rule=drop&rule_characters=";
        let rules = from_form(body).unwrap().unwrap();
        assert_eq!(rules.allow, Some(vec!["name".to_owned()]));
        assert_eq!(rules.masks["id_number"], Mask::KeepLast { characters: 4 });
        assert_eq!(rules.masks["born"], Mask::Month);
        assert_eq!(rules.masks["phone"], Mask::Hash);
        assert_eq!(rules.masks["note"], Mask::Drop);
    }

    #[test]
    fn a_form_without_rules_or_with_bad_ones_is_told_apart() {
        assert!(from_form(b"csrf=x&max_rows=5").is_none());
        let bad_count = b"rule_column=a&rule=keep_last&rule_characters=17";
        assert_eq!(
            from_form(bad_count),
            Some(Err("columns-characters-invalid"))
        );
        let unknown = b"rule_column=a&rule=reveal&rule_characters=";
        assert_eq!(from_form(unknown), Some(Err("columns-invalid")));
        let misaligned = b"rule_column=a&rule_column=b&rule=plain&rule_characters=";
        assert_eq!(from_form(misaligned), Some(Err("columns-invalid")));
    }

    #[test]
    fn rules_matching_the_marking_have_the_same_effect_as_none() {
        let columns = [
            column("name", ColumnType::String, false),
            column("id_number", ColumnType::String, true),
        ];
        let as_marked = from_form(
            b"rule_column=name&rule=plain&rule_characters=\
              &rule_column=id_number&rule=drop&rule_characters=",
        )
        .unwrap()
        .unwrap();
        assert!(same_effect(None, Some(&as_marked), &columns));
        let revealing = from_form(
            b"rule_column=name&rule=plain&rule_characters=\
              &rule_column=id_number&rule=plain&rule_characters=",
        )
        .unwrap()
        .unwrap();
        assert!(!same_effect(None, Some(&revealing), &columns));
    }
}
