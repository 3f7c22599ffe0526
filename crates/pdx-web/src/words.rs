//! Plain words for the catalog's codes: classification badges with what each class means for
//! the visitor, theme names and update frequencies, in the visitor's language.

use maud::{Markup, html};
use pdx_core::{DataGrade, OpeningClass, SharingClass};

use crate::i18n::Lang;

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
