//! Validation of dataset metadata before it is saved: every field's form, the controlled
//! vocabularies, and the classification rules, each failure naming its field or rule.

use crate::error::{CatalogError, FieldProblem};
use crate::model::{COLUMN_TYPES, Column, DatasetInput, Translation, Translations};
use crate::vocabulary::{FREQUENCIES, LANGUAGES, theme};

/// Longest title accepted.
const MAX_TITLE: usize = 300;
/// Longest description accepted.
const MAX_DESCRIPTION: usize = 20_000;

fn text(field: &'static str, value: &str, max: usize) -> Result<String, CatalogError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max {
        return Err(CatalogError::invalid(
            field,
            format!("must be 1-{max} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

fn optional_text(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, CatalogError> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| text(field, v, max))
        .transpose()
}

fn url(field: &'static str, value: Option<&str>) -> Result<Option<String>, CatalogError> {
    let value = optional_text(field, value, 2000)?;
    if let Some(v) = &value
        && !(v.starts_with("https://") || v.starts_with("http://"))
    {
        return Err(CatalogError::invalid(field, "must be an http(s) URL"));
    }
    Ok(value)
}

/// Slugs that name API paths beside `/api/v1/datasets/{id}`.
const RESERVED_SLUGS: &[&str] = &["suggest"];

/// A dataset slug: 2-100 of a-z, 0-9 and '-', not one the API's paths use.
pub fn slug(value: &str) -> Result<String, CatalogError> {
    let slug = value.trim();
    if RESERVED_SLUGS.contains(&slug) {
        return Err(CatalogError::invalid(
            "slug",
            format!("`{slug}` is reserved for the API"),
        ));
    }
    let valid = (2..=100).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if valid {
        Ok(slug.to_owned())
    } else {
        Err(CatalogError::invalid(
            "slug",
            "must be 2-100 characters of a-z, 0-9 and '-'",
        ))
    }
}

/// Derives a slug from a title's Latin words, if it has any.
pub fn derive_slug(title: &str) -> Option<String> {
    slug(&pdx_core::slug::kebab(title, 80)).ok()
}

/// The problems found while checking an input, gathered so that all are reported at once.
#[derive(Debug, Default)]
struct Found(Vec<FieldProblem>);

impl Found {
    /// Records a problem of `field`.
    fn refuse(&mut self, field: &'static str, message: impl Into<String>) {
        let problem = FieldProblem {
            field,
            message: message.into(),
        };
        if !self.0.contains(&problem) {
            self.0.push(problem);
        }
    }

    /// The checked value, or none with its problems recorded.
    fn keep<T>(&mut self, checked: Result<T, CatalogError>) -> Option<T> {
        match checked {
            Ok(value) => Some(value),
            Err(CatalogError::InvalidInput { problems, .. }) => {
                for problem in problems {
                    self.refuse(problem.field, problem.message);
                }
                None
            }
            Err(other) => {
                self.refuse("input", other.to_string());
                None
            }
        }
    }
}

/// Checks and normalises dataset metadata; `licence_is_known` says whether a named licence
/// exists (the caller looks it up). Every field found wrong is reported, with the
/// classification rule broken, in one refusal.
pub fn validate(
    input: &DatasetInput,
    licence_is_known: bool,
) -> Result<DatasetInput, CatalogError> {
    let mut found = Found::default();
    let slug_checked = found.keep(input.slug.as_deref().map(slug).transpose());
    let title = found.keep(text("title", &input.title, MAX_TITLE));
    let description = found.keep(text("description", &input.description, MAX_DESCRIPTION));
    let mut keywords: Vec<String> = Vec::new();
    for keyword in &input.keywords {
        if let Some(keyword) = found.keep(text("keywords", keyword, 100))
            && !keywords.contains(&keyword)
        {
            keywords.push(keyword);
        }
    }
    if keywords.len() > 50 {
        found.refuse("keywords", "at most 50");
    }
    let mut themes: Vec<String> = Vec::new();
    for code in &input.themes {
        let code = code.trim().to_ascii_uppercase();
        if theme(&code).is_none() {
            found.refuse(
                "themes",
                format!("`{code}` is not a theme (see /api/v1/themes)"),
            );
        } else if !themes.contains(&code) {
            themes.push(code);
        }
    }
    if !FREQUENCIES
        .iter()
        .any(|(name, _)| *name == input.update_frequency)
    {
        let known: Vec<&str> = FREQUENCIES.iter().map(|(n, _)| *n).collect();
        found.refuse(
            "update_frequency",
            format!("must be one of {}", known.join(", ")),
        );
    }
    let mut languages: Vec<String> = Vec::new();
    for language in &input.languages {
        let language = language.trim().to_ascii_lowercase();
        if !LANGUAGES.iter().any(|(code, _)| *code == language) {
            found.refuse(
                "languages",
                format!("`{language}` is not a supported ISO 639-1 code"),
            );
        } else if !languages.contains(&language) {
            languages.push(language);
        }
    }
    if input.languages.is_empty() {
        found.refuse("languages", "at least one language is required");
    }
    let mut translations = Translations::new();
    for (language, translation) in &input.translations {
        let code = language.trim().to_ascii_lowercase();
        if !LANGUAGES.iter().any(|(known, _)| *known == code) {
            found.refuse(
                "translations",
                format!("`{code}` is not a supported ISO 639-1 code"),
            );
            continue;
        }
        if languages.first() == Some(&code) {
            found.refuse(
                "translations",
                format!(
                    "`{code}` is the dataset's own language: its title and description are in it"
                ),
            );
            continue;
        }
        let title = found.keep(text("translations", &translation.title, MAX_TITLE));
        let description = translation.description.trim();
        if description.chars().count() > MAX_DESCRIPTION {
            found.refuse(
                "translations",
                format!("a description must be at most {MAX_DESCRIPTION} characters"),
            );
        }
        if let Some(title) = title {
            translations.insert(
                code,
                Translation {
                    title,
                    description: description.to_owned(),
                },
            );
        }
    }
    if let (Some(start), Some(end)) = (input.temporal_start, input.temporal_end)
        && end < start
    {
        found.refuse("temporal_end", "must not be before temporal_start");
    }
    let contact_email = found
        .keep(optional_text(
            "contact_email",
            input.contact_email.as_deref(),
            254,
        ))
        .flatten();
    if let Some(email) = &contact_email
        && !(email.contains('@') && email.rsplit('@').next().is_some_and(|d| d.contains('.')))
    {
        found.refuse("contact_email", "is not an e-mail address");
    }
    let licence = found
        .keep(optional_text("licence", input.licence.as_deref(), 100))
        .flatten();
    if licence.is_some() && !licence_is_known {
        found.refuse("licence", "is not a known licence (see /api/v1/licences)");
    }
    let contact_name = found
        .keep(optional_text(
            "contact_name",
            input.contact_name.as_deref(),
            200,
        ))
        .flatten();
    let spatial = found
        .keep(optional_text("spatial", input.spatial.as_deref(), 500))
        .flatten();
    let resource_code = found
        .keep(optional_text(
            "resource_code",
            input.resource_code.as_deref(),
            100,
        ))
        .flatten();
    let landing_page = found
        .keep(url("landing_page", input.landing_page.as_deref()))
        .flatten();
    // An open dataset without a licence is a classification rule, not a second licence problem.
    let classification = input
        .classification
        .check(
            licence.is_some()
                || input
                    .licence
                    .as_deref()
                    .is_some_and(|l| !l.trim().is_empty()),
        )
        .err();
    let (Some(slug), Some(title), Some(description)) = (slug_checked, title, description) else {
        return Err(CatalogError::refused(found.0, classification));
    };
    if !found.0.is_empty() || classification.is_some() {
        return Err(CatalogError::refused(found.0, classification));
    }
    Ok(DatasetInput {
        slug,
        title,
        description,
        translations,
        keywords,
        themes,
        contact_name,
        contact_email,
        spatial,
        temporal_start: input.temporal_start,
        temporal_end: input.temporal_end,
        update_frequency: input.update_frequency.clone(),
        languages,
        resource_code,
        classification: input.classification,
        licence,
        landing_page,
    })
}

/// Checks a column schema.
pub fn validate_columns(columns: &[Column]) -> Result<(), CatalogError> {
    let mut names: Vec<&str> = Vec::new();
    for column in columns {
        let name = column.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(CatalogError::invalid(
                "columns",
                "every column needs a name of 1-200 characters",
            ));
        }
        if names.contains(&name) {
            return Err(CatalogError::invalid(
                "columns",
                format!("column `{name}` appears twice"),
            ));
        }
        if !COLUMN_TYPES.contains(&column.column_type.as_str()) {
            return Err(CatalogError::invalid(
                "columns",
                format!(
                    "`{}` is not a column type ({})",
                    column.column_type,
                    COLUMN_TYPES.join(", ")
                ),
            ));
        }
        names.push(name);
    }
    Ok(())
}

/// Checks an external API endpoint's URL.
pub fn access_url(value: &str) -> Result<String, CatalogError> {
    url("access_url", Some(value))?
        .ok_or_else(|| CatalogError::invalid("access_url", "is required"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slug_the_api_uses_as_a_path_is_refused() {
        assert!(slug("suggest").is_err());
        assert!(slug("suggestions").is_ok());
        assert_eq!(derive_slug("Suggest"), None);
    }
}
