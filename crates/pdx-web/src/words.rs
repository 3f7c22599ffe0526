//! Plain words for the catalog's codes: classification badges with what each class means for
//! the visitor, theme names, update frequencies and licence policies, in the visitor's language.

use maud::{Markup, html};
use pdx_core::{DataGrade, OpeningClass, SharingClass};
use pdx_licensing::Policy;
use pdx_licensing::policy::{Constraint, Operand, Operator, Rule, Typed};

use crate::i18n::{Arg, Lang};

/// The message key stem of an opening class.
pub fn opening_key(class: OpeningClass) -> &'static str {
    match class {
        OpeningClass::Open => "opening-open",
        OpeningClass::Conditional => "opening-conditional",
        OpeningClass::Closed => "opening-closed",
    }
}

/// The message key stem of a sharing class.
pub fn sharing_key(class: SharingClass) -> &'static str {
    match class {
        SharingClass::Unconditional => "sharing-unconditional",
        SharingClass::Conditional => "sharing-conditional",
        SharingClass::None => "sharing-none",
    }
}

/// The message key stem of a data grade.
pub fn grade_key(grade: DataGrade) -> &'static str {
    match grade {
        DataGrade::General => "grade-general",
        DataGrade::Important => "grade-important",
        DataGrade::Core => "grade-core",
    }
}

/// The badges of a classification: text always, colour only as a second signal.
pub fn badges(
    lang: Lang,
    opening: OpeningClass,
    sharing: SharingClass,
    grade: DataGrade,
) -> Markup {
    html! {
        ul.badges {
            li.badge.(opening_key(opening)) title=(lang.t(&format!("{}-about", opening_key(opening)))) {
                (lang.t(opening_key(opening)))
            }
            li.badge.(sharing_key(sharing)) title=(lang.t(&format!("{}-about", sharing_key(sharing)))) {
                (lang.t(sharing_key(sharing)))
            }
            @if grade != DataGrade::General {
                li.badge.(grade_key(grade)) title=(lang.t(&format!("{}-about", grade_key(grade)))) {
                    (lang.t(grade_key(grade)))
                }
            }
        }
    }
}

/// A theme's name in the visitor's language; the code when unknown.
pub fn theme_name(lang: Lang, code: &str) -> String {
    match pdx_catalog::vocabulary::theme(code) {
        Some(theme) => match lang {
            Lang::Zh => theme.label_zh.to_owned(),
            Lang::En => theme.label_en.to_owned(),
        },
        None => code.to_owned(),
    }
}

/// A purpose of use in words; the code when unknown.
pub fn purpose_name(lang: Lang, purpose: &str) -> String {
    if pdx_licensing::model::PURPOSES.contains(&purpose) {
        lang.t(&format!("purpose-{}", purpose.replace('_', "-")))
    } else {
        purpose.to_owned()
    }
}

/// An update frequency in words.
pub fn frequency(lang: Lang, code: &str) -> String {
    if pdx_catalog::vocabulary::FREQUENCIES
        .iter()
        .any(|(name, _)| *name == code)
    {
        lang.t(&format!("frequency-{code}"))
    } else {
        code.to_owned()
    }
}

/// Parses a class code as the search facets name it.
pub fn opening_from(code: &str) -> Option<OpeningClass> {
    [
        OpeningClass::Open,
        OpeningClass::Conditional,
        OpeningClass::Closed,
    ]
    .into_iter()
    .find(|c| c.as_str() == code)
}

/// Parses a sharing class code.
pub fn sharing_from(code: &str) -> Option<SharingClass> {
    [
        SharingClass::Unconditional,
        SharingClass::Conditional,
        SharingClass::None,
    ]
    .into_iter()
    .find(|c| c.as_str() == code)
}

/// Parses a grade code.
pub fn grade_from(code: &str) -> Option<DataGrade> {
    [DataGrade::General, DataGrade::Important, DataGrade::Core]
        .into_iter()
        .find(|c| c.as_str() == code)
}

/// A licence's policy in words: what it permits and what it prohibits, each rule with the
/// conditions under which it applies.
pub fn policy(lang: Lang, policy: &Policy) -> Markup {
    html! {
        dl.policy {
            @for (key, rules) in [("policy-permits", &policy.permissions), ("policy-prohibits", &policy.prohibitions)] {
                @if !rules.is_empty() {
                    dt { (lang.t(key)) }
                    dd {
                        ul {
                            @for rule in rules.iter() {
                                li { (rule_words(lang, rule)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn rule_words(lang: Lang, rule: &Rule) -> Markup {
    let action = lang.t(&format!("policy-action-{}", rule.action.as_str()));
    html! {
        @match &rule.constraint {
            None => (lang.t_with("policy-rule-always", &[("action", Arg::Text(action))])),
            Some(Constraint::Compare { operand, operator, right }) => {
                (lang.t_with("policy-rule-when", &[
                    ("action", Arg::Text(action)),
                    ("condition", Arg::Text(comparison(lang, *operand, *operator, right.value()))),
                ]))
            }
            Some(combined) => {
                (lang.t_with("policy-rule-when-these", &[("action", Arg::Text(action))]))
                (conditions(lang, combined))
            }
        }
    }
}

/// An `and` or `or` of conditions as a list; one comparison as a sentence.
fn conditions(lang: Lang, constraint: &Constraint) -> Markup {
    match constraint {
        Constraint::Compare {
            operand,
            operator,
            right,
        } => html! { (comparison(lang, *operand, *operator, right.value())) },
        Constraint::And(items) | Constraint::Or(items) => {
            let key = if matches!(constraint, Constraint::And(_)) {
                "policy-all-of"
            } else {
                "policy-any-of"
            };
            html! {
                (lang.t(key))
                ul {
                    @for item in items {
                        li { (conditions(lang, item)) }
                    }
                }
            }
        }
    }
}

/// One comparison in words, e.g. "the declared purpose is one of Research, Education".
fn comparison(lang: Lang, operand: Operand, operator: Operator, value: &Typed) -> String {
    let named = |text: &str| match operand {
        Operand::Purpose => purpose_name(lang, text),
        _ => text.to_owned(),
    };
    let value = match value {
        Typed::Instant(at) => format!("{} {} UTC", lang.date(at.date_naive()), at.format("%H:%M")),
        Typed::Seconds(seconds) => duration(lang, *seconds),
        Typed::Number(n) => lang.number(i64::try_from(*n).unwrap_or(i64::MAX)),
        Typed::Text(text) => named(text),
        Typed::Texts(texts) => texts
            .iter()
            .map(|t| named(t))
            .collect::<Vec<_>>()
            .join(&lang.t("policy-list-separator")),
    };
    lang.t_with(
        &format!("policy-{}", operand.as_str()),
        &[
            ("operator", Arg::Text(operator.as_str().to_owned())),
            ("value", Arg::Text(value)),
        ],
    )
}

/// A duration in the largest whole unit: days, hours, minutes or seconds.
fn duration(lang: Lang, seconds: i64) -> String {
    let (key, count) = [
        ("policy-days", 86_400),
        ("policy-hours", 3_600),
        ("policy-minutes", 60),
    ]
    .into_iter()
    .find(|(_, unit)| seconds != 0 && seconds % unit == 0)
    .map_or(("policy-seconds", seconds), |(key, unit)| {
        (key, seconds / unit)
    });
    lang.t_with(key, &[("count", Arg::Number(count))])
}
