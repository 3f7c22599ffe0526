//! What every form shares: a problem with one of its fields, the summary of a form's problems
//! at the top of the page (each linking to its field), and the status of a page that shows
//! them.

use actix_web::http::StatusCode;
use maud::{Markup, html};

use crate::page::Ctx;

/// What is wrong with a field, in the visitor's language.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    /// The field's id (empty: the form as a whole).
    pub(crate) field: String,
    /// What is wrong.
    pub(crate) message: String,
}

/// The first problem of `field`.
pub(crate) fn problem_of<'a>(problems: &'a [Problem], field: &str) -> Option<&'a Problem> {
    problems.iter().find(|p| p.field == field)
}

/// The summary of a form's problems, each linking to its field.
pub(crate) fn error_summary(ctx: &Ctx, problems: &[Problem]) -> Markup {
    html! {
        @if !problems.is_empty() {
            div.error-summary role="alert" aria-labelledby="error-summary-title" tabindex="-1" {
                h2 #error-summary-title { (ctx.t("form-error-summary")) }
                ul {
                    @for problem in problems {
                        li {
                            @if problem.field.is_empty() {
                                (problem.message)
                            } @else {
                                a href={ "#" (problem.field) } { (problem.message) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// 422 for a form shown again with its problems, 200 otherwise.
pub(crate) fn status(problems: &[Problem]) -> StatusCode {
    if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

/// A form whose field `name` repeats (check boxes): serde_urlencoded keeps only the last of a
/// repeated field, so its values are gathered apart; the other fields fill `T`.
pub(crate) fn with_repeated<T: serde::de::DeserializeOwned + Default>(
    body: &[u8],
    name: &str,
) -> (T, Vec<String>) {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let (repeated, single): (Vec<_>, Vec<_>) = pairs.into_iter().partition(|(k, _)| k == name);
    let form = serde_urlencoded::to_string(&single)
        .ok()
        .and_then(|encoded| serde_urlencoded::from_str(&encoded).ok())
        .unwrap_or_default();
    (form, repeated.into_iter().map(|(_, v)| v).collect())
}

/// An optional whole number greater than zero; `Err` when something else was typed.
pub(crate) fn positive_number(text: &str) -> Result<Option<i64>, ()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .map(Some)
        .ok_or(())
}
