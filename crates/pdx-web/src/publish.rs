//! Publishing in the browser, for an agency: a dataset's description and classification (the
//! classification rules explained beside the choice, errors beside the fields), its files
//! (uploaded with a progress bar when JavaScript runs, as a plain form when not), and its
//! lifecycle — submit for review, publish or return with a comment (reviewers), start a new
//! version, withdraw. The rules are the catalog's own.

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use futures_util::StreamExt;
use maud::html;
use pdx_catalog::model::{DatasetInput, DatasetStatus, LifecycleAction, Translation, Translations};
use pdx_catalog::service::DistributionInput;
use pdx_catalog::{CatalogError, DatasetView};
use pdx_core::{Classification, DataGrade, OpeningClass, Principal, Role, SharingClass};
use pdx_rows::model::{Ingestion, IngestionState, SourceFormat};
use serde::Deserialize;

use crate::WebState;
use crate::error::{PageResult, WebError, finish};
use crate::forms::{Problem, error_summary};
use crate::i18n::Arg;
use crate::page::{Ctx, crumbs, frame, respond};
use crate::session::{form_refusal, request_context, signed_form_of};
use crate::words;

/// The language of the editor's translation fields (the dataset's own is Chinese).
const ENGLISH: &str = "en";

/// The editor's fields, as the form sends them.
#[derive(Debug, Default, Deserialize)]
struct DatasetForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    title_en: String,
    #[serde(default)]
    description_en: String,
    #[serde(default)]
    keywords: String,
    #[serde(default)]
    themes: Vec<String>,
    #[serde(default)]
    update_frequency: String,
    #[serde(default)]
    spatial: String,
    #[serde(default)]
    temporal_start: String,
    #[serde(default)]
    temporal_end: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    contact_email: String,
    #[serde(default)]
    resource_code: String,
    #[serde(default)]
    opening: String,
    #[serde(default)]
    sharing: String,
    #[serde(default)]
    grade: String,
    #[serde(default)]
    licence: String,
}

impl DatasetForm {
    fn of(view: &DatasetView) -> Self {
        let d = &view.dataset;
        let english = d.translations.get(ENGLISH);
        Self {
            title: d.title.clone(),
            description: d.description.clone(),
            title_en: english.map(|t| t.title.clone()).unwrap_or_default(),
            description_en: english.map(|t| t.description.clone()).unwrap_or_default(),
            keywords: d.keywords.join(", "),
            themes: d.themes.clone(),
            update_frequency: d.update_frequency.clone(),
            spatial: d.spatial.clone().unwrap_or_default(),
            temporal_start: d.temporal_start.map(|t| t.to_string()).unwrap_or_default(),
            temporal_end: d.temporal_end.map(|t| t.to_string()).unwrap_or_default(),
            contact_name: d.contact_name.clone().unwrap_or_default(),
            contact_email: d.contact_email.clone().unwrap_or_default(),
            resource_code: d.resource_code.clone().unwrap_or_default(),
            opening: d.classification.opening.as_str().to_owned(),
            sharing: d.classification.sharing.as_str().to_owned(),
            grade: d.classification.grade.as_str().to_owned(),
            licence: d.licence.clone().unwrap_or_default(),
        }
    }

    /// The catalog's input, or the fields that cannot be read.
    fn input(&self, ctx: &Ctx, slug: Option<String>) -> Result<DatasetInput, Vec<Problem>> {
        let mut problems = Vec::new();
        let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        let mut date = |field: &'static str, v: &str| match text(v) {
            None => None,
            Some(v) => match chrono::NaiveDate::parse_from_str(&v, "%Y-%m-%d") {
                Ok(day) => Some(day),
                Err(_) => {
                    problems.push(Problem {
                        field: field.into(),
                        message: ctx.t("publish-date-invalid"),
                    });
                    None
                }
            },
        };
        let (temporal_start, temporal_end) = (
            date("temporal_start", &self.temporal_start),
            date("temporal_end", &self.temporal_end),
        );
        let classification = match (
            words::opening_from(&self.opening),
            words::sharing_from(&self.sharing),
            words::grade_from(&self.grade),
        ) {
            (Some(opening), Some(sharing), Some(grade)) => Some(Classification {
                opening,
                sharing,
                grade,
            }),
            _ => {
                problems.push(Problem {
                    field: "opening".into(),
                    message: ctx.t("publish-classes-missing"),
                });
                None
            }
        };
        let (title_en, description_en) = (self.title_en.trim(), self.description_en.trim());
        if title_en.is_empty() && !description_en.is_empty() {
            problems.push(Problem {
                field: "title_en".into(),
                message: ctx.t("publish-title-en-missing"),
            });
        }
        let Some(classification) = classification.filter(|_| problems.is_empty()) else {
            return Err(problems);
        };
        let mut translations = Translations::new();
        if !title_en.is_empty() {
            translations.insert(
                ENGLISH.to_owned(),
                Translation {
                    title: title_en.to_owned(),
                    description: description_en.to_owned(),
                },
            );
        }
        Ok(DatasetInput {
            slug,
            title: self.title.trim().to_owned(),
            description: self.description.trim().to_owned(),
            translations,
            keywords: self
                .keywords
                .split([',', '，', ';', '；'])
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect(),
            themes: self.themes.clone(),
            contact_name: text(&self.contact_name),
            contact_email: text(&self.contact_email),
            spatial: text(&self.spatial),
            temporal_start,
            temporal_end,
            update_frequency: self.update_frequency.trim().to_owned(),
            languages: vec!["zh".to_owned(), "en".to_owned()],
            resource_code: text(&self.resource_code),
            classification,
            licence: text(&self.licence),
            landing_page: None,
        })
    }
}

/// A catalog refusal as problems beside the fields, or the page to show instead.
fn problems_of(ctx: &Ctx, error: CatalogError) -> Result<Vec<Problem>, Box<HttpResponse>> {
    match error {
        CatalogError::InvalidInput {
            problems,
            classification,
        } => {
            let mut found: Vec<Problem> = problems
                .into_iter()
                .map(|p| Problem {
                    // The form has one translation, the English one.
                    field: if p.field == "translations" {
                        "title_en".into()
                    } else {
                        p.field.into()
                    },
                    message: format!("{} ({})", ctx.t("publish-field-invalid"), p.message),
                })
                .collect();
            if let Some(violation) = classification {
                found.push(Problem {
                    field: "opening".into(),
                    message: ctx.t(&format!("rule-{}", violation.rule().replace('_', "-"))),
                });
            }
            Ok(found)
        }
        CatalogError::SlugTaken => Ok(vec![Problem {
            field: "title".into(),
            message: ctx.t("publish-slug-taken"),
        }]),
        other => Err(Box::new(WebError::from(other).page(ctx))),
    }
}

/// A new dataset's editor.
#[get("/workspace/agency/datasets/new")]
pub(crate) async fn new_form(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    if let Err(answer) = crate::workspace::principal_for(&ctx, crate::workspace::is_agency) {
        return *answer;
    }
    let form = DatasetForm {
        opening: "conditional".into(),
        sharing: "conditional".into(),
        grade: "general".into(),
        update_frequency: "monthly".into(),
        ..DatasetForm::default()
    };
    finish(editor(ctx, &state, None, &form, &[]).await)
}

/// Creates a draft.
#[post("/workspace/agency/datasets/new")]
pub(crate) async fn create(
    req: HttpRequest,
    state: web::Data<WebState>,
    body: web::Bytes,
) -> HttpResponse {
    save(req, state, None, body).await
}

/// A draft's (or pending revision's) editor.
#[get("/workspace/agency/datasets/{slug}/edit")]
pub(crate) async fn edit_form(
    req: HttpRequest,
    state: web::Data<WebState>,
    slug: web::Path<String>,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let principal = match crate::workspace::principal_for(&ctx, crate::workspace::is_agency) {
        Ok(principal) => principal,
        Err(answer) => return *answer,
    };
    let view = match state.catalog.dataset(Some(&principal), &slug).await {
        Ok(view) if view.dataset.organization_id == principal.org => view,
        Ok(_) => return WebError::NotFound.page(&ctx),
        Err(error) => return WebError::from(error).page(&ctx),
    };
    let form = DatasetForm::of(&view);
    finish(editor(ctx, &state, Some(&view), &form, &[]).await)
}

/// Saves the editor.
#[post("/workspace/agency/datasets/{slug}/edit")]
pub(crate) async fn update(
    req: HttpRequest,
    state: web::Data<WebState>,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    save(req, state, Some(slug.into_inner()), body).await
}

async fn save(
    req: HttpRequest,
    state: web::Data<WebState>,
    slug: Option<String>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let (principal, ()) = match signed_form_of::<()>(&ctx, &body, crate::workspace::is_agency) {
        Ok(sent) => sent,
        Err(answer) => return *answer,
    };
    let (form, themes) = crate::forms::with_repeated::<DatasetForm>(&body, "themes");
    let form = DatasetForm { themes, ..form };
    let view = match &slug {
        Some(slug) => match state.catalog.dataset(Some(&principal), slug).await {
            Ok(view) if view.dataset.organization_id == principal.org => Some(view),
            Ok(_) => return WebError::NotFound.page(&ctx),
            Err(error) => return WebError::from(error).page(&ctx),
        },
        None => None,
    };
    let input = match form.input(&ctx, view.as_ref().map(|v| v.dataset.slug.clone())) {
        Ok(input) => input,
        Err(problems) => return finish(editor(ctx, &state, view.as_ref(), &form, &problems).await),
    };
    let context = request_context(&req, &ctx);
    let saved = match &view {
        Some(view) => {
            state
                .catalog
                .update_dataset(&principal, &view.dataset.id.to_string(), input, &context)
                .await
        }
        None => {
            state
                .catalog
                .create_dataset(&principal, input, &context)
                .await
        }
    };
    match saved {
        Ok(saved) => HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                format!("/workspace/agency/datasets/{}", saved.dataset.slug),
            ))
            .finish(),
        Err(error) => match problems_of(&ctx, error) {
            Ok(problems) => finish(editor(ctx, &state, view.as_ref(), &form, &problems).await),
            Err(page) => *page,
        },
    }
}

async fn editor(
    ctx: Ctx,
    state: &WebState,
    view: Option<&DatasetView>,
    form: &DatasetForm,
    problems: &[Problem],
) -> PageResult {
    let licences = state
        .catalog
        .licences()
        .await
        .map_err(|e| (ctx.clone(), e.into()))?;
    let lang = ctx.lang;
    let title = ctx.t(if view.is_some() {
        "publish-edit-title"
    } else {
        "publish-new-title"
    });
    let action = match view {
        Some(view) => format!("/workspace/agency/datasets/{}/edit", view.dataset.slug),
        None => "/workspace/agency/datasets/new".to_owned(),
    };
    let csrf = ctx.csrf();
    let error = |field: &str| crate::forms::problem_of(problems, field);
    let text_field =
        |name: &'static str, label: &str, value: &str, kind: &str, hint: Option<&str>| {
            let problem = error(name);
            html! {
                div.field.invalid[problem.is_some()] {
                    label for=(name) { (ctx.t(label)) }
                    @if let Some(hint) = hint { p.hint { (ctx.t(hint)) } }
                    @if let Some(problem) = problem { p.field-error { (problem.message) } }
                    input #(name) type=(kind) name=(name) value=(value)
                        aria-invalid=[problem.is_some().then_some("true")];
                }
            }
        };
    let choice = |name: &str, value: &str, key: &str, checked: bool| {
        let id = format!("{name}-{value}");
        html! {
            div.choice {
                input type="radio" name=(name) value=(value) id=(id) checked[checked];
                label for=(id) {
                    strong { (ctx.t(key)) }
                    br;
                    span.small { (ctx.t(&format!("{key}-about"))) }
                }
            }
        }
    };
    let content = html! {
        (crumbs(&ctx, &[("/workspace/agency", &ctx.t("workspace-agency-title"))]))
        div.narrow {
            (error_summary(&ctx, problems))
            h1 { (title) }
            form method="post" action=(action) novalidate {
                input type="hidden" name="csrf" value=(csrf);
                fieldset {
                    legend { h2 { (ctx.t("publish-describe")) } }
                    (text_field("title", "publish-title", &form.title, "text", Some("publish-title-hint")))
                    div.field.invalid[error("description").is_some()] {
                        label for="description" { (ctx.t("publish-description")) }
                        @if let Some(problem) = error("description") { p.field-error { (problem.message) } }
                        textarea #description name="description" rows="5" { (form.description) }
                    }
                    (text_field("title_en", "publish-title-en", &form.title_en, "text", Some("publish-title-en-hint")))
                    div.field {
                        label for="description_en" { (ctx.t("publish-description-en")) }
                        textarea #description_en name="description_en" rows="4" lang="en" { (form.description_en) }
                    }
                    (text_field("keywords", "dataset-keywords", &form.keywords, "text", Some("publish-keywords-hint")))
                    fieldset.field.invalid[error("themes").is_some()] {
                        legend { (ctx.t("meta-themes")) }
                        @if let Some(problem) = error("themes") { p.field-error { (problem.message) } }
                        div.checks {
                            @for theme in pdx_catalog::vocabulary::THEMES {
                                div.choice {
                                    input type="checkbox" name="themes" value=(theme.code) id={ "theme-" (theme.code) }
                                        checked[form.themes.iter().any(|t| t == theme.code)];
                                    label for={ "theme-" (theme.code) } { (words::theme_name(lang, theme.code)) }
                                }
                            }
                        }
                    }
                    div.field.invalid[error("update_frequency").is_some()] {
                        label for="update_frequency" { (ctx.t("meta-frequency")) }
                        select #update_frequency name="update_frequency" {
                            @for (name, _) in pdx_catalog::vocabulary::FREQUENCIES {
                                option value=(name) selected[form.update_frequency == *name] { (words::frequency(lang, name)) }
                            }
                        }
                    }
                    (text_field("spatial", "meta-spatial", &form.spatial, "text", None))
                    (text_field("temporal_start", "publish-temporal-start", &form.temporal_start, "date", None))
                    (text_field("temporal_end", "publish-temporal-end", &form.temporal_end, "date", None))
                    (text_field("contact_name", "publish-contact-name", &form.contact_name, "text", None))
                    (text_field("contact_email", "publish-contact-email", &form.contact_email, "email", None))
                    (text_field("resource_code", "meta-resource-code", &form.resource_code, "text", Some("publish-resource-code-hint")))
                }
                fieldset #opening {
                    legend { h2 { (ctx.t("publish-classify")) } }
                    p.hint { (ctx.t("publish-classify-hint")) " " a href="/about#classes" { (ctx.t("class-rules-link")) } }
                    @if let Some(problem) = error("opening") { p.field-error { (problem.message) } }
                    fieldset.field {
                        legend { (ctx.t("class-opening")) }
                        @for class in [OpeningClass::Open, OpeningClass::Conditional, OpeningClass::Closed] {
                            (choice("opening", class.as_str(), words::opening_key(class), form.opening == class.as_str()))
                        }
                    }
                    fieldset.field {
                        legend { (ctx.t("class-sharing")) }
                        @for class in [SharingClass::Unconditional, SharingClass::Conditional, SharingClass::None] {
                            (choice("sharing", class.as_str(), words::sharing_key(class), form.sharing == class.as_str()))
                        }
                    }
                    fieldset.field {
                        legend { (ctx.t("class-grade")) }
                        @for grade in [DataGrade::General, DataGrade::Important, DataGrade::Core] {
                            (choice("grade", grade.as_str(), words::grade_key(grade), form.grade == grade.as_str()))
                        }
                    }
                    div.field.invalid[error("licence").is_some()] {
                        label for="licence" { (ctx.t("meta-licence")) }
                        p.hint { (ctx.t("publish-licence-hint")) }
                        @if let Some(problem) = error("licence") { p.field-error { (problem.message) } }
                        select #licence name="licence" {
                            option value="" { (ctx.t("publish-no-licence")) }
                            @for licence in &licences {
                                option value=(licence.id) selected[form.licence == licence.id] { (licence.title) }
                            }
                        }
                    }
                }
                button type="submit" { (ctx.t("publish-save")) }
            }
        }
    };
    let status = crate::forms::status(problems);
    Ok(respond(status, frame(&ctx, &title, content)))
}

/// A dataset as its agency works on it: state, files, and the next steps.
#[get("/workspace/agency/datasets/{slug}")]
pub(crate) async fn manage(
    req: HttpRequest,
    state: web::Data<WebState>,
    slug: web::Path<String>,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let principal = match crate::workspace::principal_for(&ctx, crate::workspace::is_agency) {
        Ok(principal) => principal,
        Err(answer) => return *answer,
    };
    finish(manage_page(ctx, &state, &principal, &slug, &[]).await)
}

pub(crate) async fn manage_page(
    ctx: Ctx,
    state: &WebState,
    principal: &Principal,
    slug: &str,
    problems: &[Problem],
) -> PageResult {
    let view = state
        .catalog
        .dataset(Some(principal), slug)
        .await
        .map_err(|e| (ctx.clone(), e.into()))?;
    if view.dataset.organization_id != principal.org {
        return Err((ctx, WebError::NotFound));
    }
    let d = &view.dataset;
    // Data obtained on request (by enterprises or by agencies) has an offer.
    let on_request = d.classification.opening == OpeningClass::Conditional
        || d.classification.sharing == SharingClass::Conditional;
    let (offer, licences) = if on_request {
        let offer = state
            .licensing
            .offer(Some(principal), &d.id.to_string())
            .await
            .map_err(|e| (ctx.clone(), e.into()))?;
        let licences = state
            .catalog
            .licences()
            .await
            .map_err(|e| (ctx.clone(), e.into()))?;
        (offer, licences)
    } else {
        (None, Vec::new())
    };
    let lang = ctx.lang;
    let csrf = ctx.csrf();
    let publishes = principal
        .roles
        .contains_any(&[Role::Publisher, Role::Admin]);
    // The offer's column rules are chosen among the columns of the dataset's loaded tables.
    let columns = if on_request && publishes {
        crate::columns::of_dataset(&state.rows, &view.distributions)
            .await
            .map_err(|e| (ctx.clone(), e.into()))?
    } else {
        Vec::new()
    };
    let reviews = principal.roles.contains_any(&[Role::Reviewer, Role::Admin]);
    // Each tabular file's newest ingestion: whether its rows answer queries (publishers see it).
    let mut tables = Vec::with_capacity(view.distributions.len());
    for file in &view.distributions {
        let shown =
            publishes && SourceFormat::of_file(file.kind, &file.format, &file.media_type).is_some();
        let newest = if shown {
            state
                .rows
                .ingestions(principal, file.id)
                .await
                .map_err(|e| (ctx.clone(), e.into()))?
                .into_iter()
                .next()
        } else {
            None
        };
        tables.push((shown, newest));
    }
    // Each live API's gateway (publishers configure it).
    let upstreams = if publishes {
        crate::gateway::upstreams(state, principal, &view.distributions)
            .await
            .map_err(|e| (ctx.clone(), e))?
    } else {
        Vec::new()
    };
    let loading = tables.iter().any(|(_, i)| {
        i.as_ref()
            .is_some_and(|i| i.state == IngestionState::Running)
    });
    // A draft, or a pending revision (its status is the revision's) can be edited.
    let editable = d.status == DatasetStatus::Draft;
    let base = format!("/workspace/agency/datasets/{}", d.slug);
    let status_key = format!("status-{}", d.status.as_str().replace('_', "-"));
    let action = |name: &str, label: &str, with_comment: Option<&str>| {
        html! {
            form.lifecycle method="post" action={ (base) "/lifecycle" } {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="action" value=(name);
                @if let Some(label_key) = with_comment {
                    div.field {
                        label for={ "comment-" (name) } { (ctx.t(label_key)) }
                        textarea id={ "comment-" (name) } name="comment" rows="2" maxlength="2000" {}
                    }
                }
                button.secondary[name != "submit" && name != "publish"] type="submit" { (ctx.t(label)) }
            }
        }
    };
    let content = html! {
        (crumbs(&ctx, &[("/workspace/agency", &ctx.t("workspace-agency-title"))]))
        (error_summary(&ctx, problems))
        h1 { (d.title) }
        p {
            span.tag { (ctx.t(&status_key)) }
            @if view.published.is_some() { " " span.tag.conditional { (ctx.t("publish-revision")) } }
            " " (words::badges(lang, d.classification.opening, d.classification.sharing, d.classification.grade))
        }
        @for paragraph in d.description.split('\n').filter(|p| !p.trim().is_empty()) {
            p { (paragraph) }
        }
        @if let Some(comment) = &d.review_comment {
            div.notice role="note" { strong { (ctx.t("publish-review-comment")) } " " (comment) }
        }
        @if editable && publishes {
            p { a.button.secondary href={ (base) "/edit" } { (ctx.t("publish-edit")) } }
        }
        @if d.status == DatasetStatus::Published {
            p { a href={ "/datasets/" (d.slug) } { (ctx.t("publish-public-page")) } }
        }
        section aria-labelledby="files-title" {
            h2 #files-title { (ctx.t("dataset-files")) }
            @if view.distributions.is_empty() {
                p { (ctx.t("publish-no-files")) }
            } @else {
                div.table-wrap {
                    table {
                        thead { tr {
                            th scope="col" { (ctx.t("file-name")) }
                            th scope="col" { (ctx.t("file-format")) }
                            th scope="col" class="num" { (ctx.t("file-size")) }
                            @if publishes { th scope="col" { (ctx.t("file-rows")) } }
                        } }
                        tbody {
                            @for (file, (shown, newest)) in view.distributions.iter().zip(&tables) {
                                tr {
                                    th scope="row" { (file.title) }
                                    td { (file.format) }
                                    td.num { @if let Some(size) = file.byte_size { (lang.bytes(size)) } @else { "—" } }
                                    @if publishes {
                                        td { @if *shown { (ingestion_state(&ctx, newest.as_ref())) } @else { "—" } }
                                    }
                                }
                            }
                        }
                    }
                }
                @if loading {
                    p { (ctx.t("rows-loading-hint")) " " a href=(base) { (ctx.t("rows-refresh")) } }
                }
                @for (file, (_, newest)) in view.distributions.iter().zip(&tables) {
                    @if let Some(ingestion) = newest.as_ref().filter(|i| !i.columns.is_empty()) {
                        (table_details(&ctx, &file.title, file.id, ingestion))
                    }
                }
                @for (id, upstream) in &upstreams {
                    @if let Some(file) = view.distributions.iter().find(|d| d.id == *id) {
                        (crate::gateway::upstream_block(&ctx, &base, file, upstream.as_ref(), problems))
                    }
                }
            }
            @if editable && publishes {
                form.upload method="post" action={ (base) "/files?csrf=" (csrf) } enctype="multipart/form-data" data-progress="upload-progress" {
                    div.field {
                        label for="file-title" { (ctx.t("publish-file-title")) }
                        input #file-title type="text" name="title" maxlength="200";
                    }
                    div.field {
                        label for="file" { (ctx.t("publish-file")) }
                        p.hint { (lang.t_with("publish-file-hint", &[("size", crate::i18n::Arg::Text(lang.bytes(i64::try_from(state.catalog.max_upload_bytes()).unwrap_or(i64::MAX))))])) }
                        input #file type="file" name="file" required;
                    }
                    progress #upload-progress max="100" value="0" hidden {}
                    button type="submit" { (ctx.t("publish-upload")) }
                }
                (crate::gateway::add_form(&ctx, &base, problems))
            }
        }
        @if on_request && publishes {
            (offer_section(&ctx, &base, offer.as_ref(), &licences, &columns, problems))
        }
        section aria-labelledby="steps-title" {
            h2 #steps-title { (ctx.t("publish-next")) }
            @match d.status {
                DatasetStatus::Draft if publishes => {
                    p { (ctx.t("publish-submit-hint")) }
                    (action("submit", "publish-submit", None))
                }
                DatasetStatus::InReview if reviews => {
                    p { (ctx.t("publish-review-hint")) }
                    (action("publish", "publish-publish", None))
                    (action("return", "publish-return", Some("publish-return-comment")))
                }
                DatasetStatus::InReview => { p { (ctx.t("publish-awaiting-review")) } }
                DatasetStatus::Published if publishes => {
                    (action("revise", "publish-revise", None))
                    (action("withdraw", "publish-withdraw", Some("publish-withdraw-reason")))
                }
                _ => { p { (ctx.t("publish-nothing-to-do")) } }
            }
        }
    };
    let status = crate::forms::status(problems);
    Ok(respond(status, frame(&ctx, &d.title, content)))
}

/// Where a tabular file's rows stand: loading (with rows so far), loaded, or failed and why.
fn ingestion_state(ctx: &Ctx, newest: Option<&Ingestion>) -> maud::Markup {
    let lang = ctx.lang;
    let Some(ingestion) = newest else {
        return html! { (ctx.t("rows-none")) };
    };
    let count = i64::try_from(ingestion.rows_loaded).unwrap_or(i64::MAX);
    let loaded = || {
        lang.t_with(
            "rows-loaded",
            &[
                ("rows", Arg::Text(lang.number(count))),
                ("count", Arg::Number(count)),
            ],
        )
    };
    let rejected = i64::try_from(ingestion.rows_rejected).unwrap_or(i64::MAX);
    html! {
        @match ingestion.state {
            IngestionState::Running => {
                span.tag.conditional { (ctx.t("rows-running")) }
                " " (loaded())
                @if ingestion.bytes_total > 0 {
                    " " progress max=(ingestion.bytes_total) value=(ingestion.bytes_read.min(ingestion.bytes_total))
                        aria-label=(ctx.t("rows-progress")) {}
                }
            }
            IngestionState::Ready | IngestionState::Replaced => {
                span.tag.open { (ctx.t("rows-ready")) }
                " " (loaded())
                @if rejected > 0 {
                    " · " (lang.t_with("rows-rejected", &[("rows", Arg::Number(rejected))]))
                }
            }
            IngestionState::Failed => {
                span.tag { (ctx.t("rows-failed")) }
                @if let Some(error) = &ingestion.error { " " (error) }
            }
        }
    }
}

/// A loaded table's columns (name, type, marked sensitive, indexed), its first rejected rows,
/// and where its rows are read through the API.
fn table_details(
    ctx: &Ctx,
    title: &str,
    id: pdx_core::DistributionId,
    ingestion: &Ingestion,
) -> maud::Markup {
    let yes_no = |b: bool| ctx.t(if b { "rows-yes" } else { "rows-no" });
    html! {
        details.table-details {
            summary { (ctx.lang.t_with("rows-columns-of", &[("file", Arg::Text(title.to_owned()))])) }
            div.table-wrap {
                table {
                    thead { tr {
                        th scope="col" { (ctx.t("rows-column")) }
                        th scope="col" { (ctx.t("rows-type")) }
                        th scope="col" { (ctx.t("rows-sensitive")) }
                        th scope="col" { (ctx.t("rows-indexed")) }
                    } }
                    tbody {
                        @for column in &ingestion.columns {
                            tr {
                                th scope="row" { code { (column.name) } }
                                td { (ctx.t(&format!("rows-type-{}", column.column_type.as_str()))) }
                                td { (yes_no(column.sensitive)) }
                                td { (yes_no(column.indexed)) }
                            }
                        }
                    }
                }
            }
            @if !ingestion.rejects.is_empty() {
                h3 { (ctx.t("rows-rejects")) }
                ul {
                    @for reject in &ingestion.rejects {
                        li { (ctx.lang.t_with("rows-reject-line", &[("row", Arg::Number(i64::try_from(reject.row).unwrap_or(i64::MAX))), ("reason", Arg::Text(reject.reason.clone()))])) }
                    }
                }
            }
            p.hint {
                (ctx.t("rows-api-hint")) " "
                code { "GET /api/v1/distributions/" (id) "/rows" }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct LifecycleForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    comment: String,
}

/// Moves a dataset through its lifecycle.
#[post("/workspace/agency/datasets/{slug}/lifecycle")]
pub(crate) async fn lifecycle(
    req: HttpRequest,
    state: web::Data<WebState>,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let (principal, form) =
        match signed_form_of::<LifecycleForm>(&ctx, &body, crate::workspace::is_agency) {
            Ok(sent) => sent,
            Err(answer) => return *answer,
        };
    let action = match form.action.as_str() {
        "submit" => LifecycleAction::Submit,
        "publish" => LifecycleAction::Publish,
        "return" => LifecycleAction::Return,
        "revise" => LifecycleAction::Revise,
        "withdraw" => LifecycleAction::Withdraw,
        _ => return WebError::NotFound.page(&ctx),
    };
    let comment =
        Some(form.comment.trim().chars().take(2000).collect::<String>()).filter(|c| !c.is_empty());
    match state
        .catalog
        .transition(
            &principal,
            &slug,
            action,
            comment,
            &request_context(&req, &ctx),
        )
        .await
    {
        Ok(view) => HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                format!("/workspace/agency/datasets/{}", view.dataset.slug),
            ))
            .finish(),
        Err(CatalogError::IllegalTransition { .. }) => {
            let problems = [Problem {
                field: "".into(),
                message: ctx.t("publish-not-now"),
            }];
            finish(manage_page(ctx.clone(), &state, &principal, &slug, &problems).await)
        }
        Err(error) => match problems_of(&ctx, error) {
            Ok(problems) => {
                finish(manage_page(ctx.clone(), &state, &principal, &slug, &problems).await)
            }
            Err(page) => *page,
        },
    }
}

#[derive(Debug, Default, Deserialize)]
struct UploadQuery {
    #[serde(default)]
    csrf: Option<String>,
}

/// Uploads a file as a distribution. The CSRF token is in the query string: it is checked
/// before a byte of the file is read.
#[post("/workspace/agency/datasets/{slug}/files")]
pub(crate) async fn upload(
    req: HttpRequest,
    state: web::Data<WebState>,
    slug: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let principal = match crate::workspace::principal_for(&ctx, crate::workspace::is_agency) {
        Ok(principal) => principal,
        Err(answer) => return *answer,
    };
    let query: UploadQuery = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    if let Some(refused) = form_refusal(&ctx, query.csrf.as_deref()) {
        return refused;
    }
    let mut multipart = Multipart::new(req.headers(), payload);
    let mut input = DistributionInput::default();
    let context = request_context(&req, &ctx);
    let mut problem = None;
    while let Some(field) = multipart.next().await {
        let Ok(mut field) = field else {
            problem = Some(ctx.t("publish-upload-failed"));
            break;
        };
        match field.name().unwrap_or_default() {
            "file" => {
                input.file_name = field
                    .content_disposition()
                    .and_then(|d| d.get_filename())
                    .map(str::to_owned)
                    .filter(|name| !name.is_empty());
                if input.file_name.is_none() {
                    problem = Some(ctx.t("publish-file-missing"));
                    break;
                }
                input.media_type = field.content_type().map(ToString::to_string);
                let uploaded = state
                    .catalog
                    .upload_distribution(&principal, &slug, input.clone(), &mut field, &context)
                    .await;
                match uploaded {
                    Ok(distribution) => {
                        // A tabular file is loaded into a table of rows, as through the API.
                        state
                            .rows
                            .ingest_upload(&principal, &distribution, &context)
                            .await;
                        return HttpResponse::SeeOther()
                            .insert_header((
                                header::LOCATION,
                                format!("/workspace/agency/datasets/{slug}"),
                            ))
                            .finish();
                    }
                    Err(CatalogError::TooLarge { .. }) => {
                        problem = Some(ctx.t("publish-file-too-large"));
                    }
                    Err(error) => match problems_of(&ctx, error) {
                        Ok(found) => {
                            problem = found.into_iter().next().map(|p| p.message);
                        }
                        Err(page) => return *page,
                    },
                }
                break;
            }
            "title" => {
                let mut value = Vec::new();
                while let Some(Ok(chunk)) = field.next().await {
                    if value.len() + chunk.len() > 4096 {
                        break;
                    }
                    value.extend_from_slice(&chunk);
                }
                input.title = String::from_utf8(value)
                    .ok()
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty());
            }
            _ => {}
        }
    }
    let problems = [Problem {
        field: "file".into(),
        message: problem.unwrap_or_else(|| ctx.t("publish-file-missing")),
    }];
    finish(manage_page(ctx.clone(), &state, &principal, &slug, &problems).await)
}

/// Where an agency works on one of its datasets.
pub(crate) fn manage_link(slug: &str) -> String {
    format!("/workspace/agency/datasets/{slug}")
}

/// The offer form's fields. Money is entered in yuan (to the fen), quotas as whole numbers
/// (data in MB); empty means no limit.
#[derive(Debug, Default, Deserialize)]
struct OfferForm {
    #[serde(default)]
    licence_id: String,
    #[serde(default)]
    purposes: Vec<String>,
    #[serde(default)]
    max_term_days: String,
    #[serde(default)]
    max_requests: String,
    #[serde(default)]
    max_mb: String,
    #[serde(default)]
    max_rows: String,
    #[serde(default)]
    fee_per_request: String,
    #[serde(default)]
    fee_per_mb: String,
}

/// An amount in yuan with at most two decimals, in fen.
fn fen(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return Some(0);
    }
    let (yuan, cents) = text.split_once('.').unwrap_or((text, ""));
    if cents.len() > 2 || !cents.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let yuan: i64 = yuan.parse().ok().filter(|y: &i64| *y >= 0)?;
    let cents: i64 = format!("{cents:0<2}").parse().ok()?;
    yuan.checked_mul(100)?.checked_add(cents)
}

/// The offer section of a dataset an agency works on, for data obtained on request.
fn offer_section(
    ctx: &Ctx,
    base: &str,
    offer: Option<&pdx_licensing::model::Offer>,
    licences: &[pdx_catalog::model::Licence],
    columns: &[pdx_rows::model::TableColumn],
    problems: &[Problem],
) -> maud::Markup {
    let lang = ctx.lang;
    let csrf = ctx.csrf();
    let error = |field: &str| crate::forms::problem_of(problems, field);
    let number = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    let yuan = |fen: i64| format!("{}.{:02}", fen / 100, fen % 100);
    let purposes: Vec<String> = offer.map(|o| o.purposes.clone()).unwrap_or_default();
    let field = |name: &'static str, label: &str, value: String, hint: Option<&str>| {
        let problem = error(name);
        html! {
            div.field.invalid[problem.is_some()] {
                label for=(name) { (ctx.t(label)) }
                @if let Some(hint) = hint { p.hint { (ctx.t(hint)) } }
                @if let Some(problem) = problem { p.field-error { (problem.message) } }
                input #(name) type="text" inputmode="decimal" name=(name) value=(value)
                    aria-invalid=[problem.is_some().then_some("true")];
            }
        }
    };
    html! {
        section aria-labelledby="offer-title" {
            h2 #offer-title { (ctx.t("offer-title")) }
            p.hint { (ctx.t(if offer.is_some() { "offer-set-hint" } else { "offer-none-hint" })) }
            form method="post" action={ (base) "/offer" } novalidate {
                input type="hidden" name="csrf" value=(csrf);
                div.field.invalid[error("licence_id").is_some()] {
                    label for="licence_id" { (ctx.t("meta-licence")) }
                    @if let Some(problem) = error("licence_id") { p.field-error { (problem.message) } }
                    select #licence_id name="licence_id" {
                        @for licence in licences {
                            option value=(licence.id) selected[offer.is_some_and(|o| o.licence_id == licence.id)] { (licence.title) }
                        }
                    }
                }
                fieldset.field.invalid[error("purposes").is_some()] {
                    legend { (ctx.t("offer-purposes")) }
                    @if let Some(problem) = error("purposes") { p.field-error { (problem.message) } }
                    @for purpose in pdx_licensing::model::PURPOSES {
                        div.choice {
                            input type="checkbox" name="purposes" value=(purpose) id={ "purpose-" (purpose) }
                                checked[purposes.iter().any(|p| p == purpose)];
                            label for={ "purpose-" (purpose) } { (words::purpose_name(lang, purpose)) }
                        }
                    }
                }
                (field("max_term_days", "offer-term", offer.map_or("365".to_owned(), |o| o.max_term_days.to_string()), Some("offer-term-hint")))
                (field("max_requests", "offer-requests", number(offer.and_then(|o| o.max_requests)), Some("offer-limit-hint")))
                (field("max_mb", "review-max-mb", number(offer.and_then(|o| o.max_bytes).map(|b| b / 1_000_000)), Some("offer-limit-hint")))
                (field("max_rows", "offer-rows", number(offer.and_then(|o| o.max_rows)), Some("offer-rows-hint")))
                (field("fee_per_request", "offer-fee-request", offer.map_or(String::new(), |o| yuan(o.fee_per_request)), Some("offer-fee-hint")))
                (field("fee_per_mb", "offer-fee-mb", offer.map_or(String::new(), |o| yuan(o.fee_per_mb)), Some("offer-fee-hint")))
                @if !columns.is_empty() {
                    (crate::columns::fieldset(ctx, columns, offer.and_then(|o| o.column_rules.as_ref()), error("column_rules")))
                }
                button type="submit" { (ctx.t("offer-save")) }
            }
        }
    }
}

/// Sets the offer of a dataset obtained on request.
#[post("/workspace/agency/datasets/{slug}/offer")]
pub(crate) async fn put_offer(
    req: HttpRequest,
    state: web::Data<WebState>,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let (principal, ()) = match signed_form_of::<()>(&ctx, &body, crate::workspace::is_agency) {
        Ok(sent) => sent,
        Err(answer) => return *answer,
    };
    let (form, purposes) = crate::forms::with_repeated::<OfferForm>(&body, "purposes");
    let form = OfferForm { purposes, ..form };
    let mut problems = Vec::new();
    let mut problem = |field: &'static str, key: &str| {
        problems.push(Problem {
            field: field.into(),
            message: ctx.t(key),
        });
    };
    let term = form.max_term_days.trim().parse::<i32>().unwrap_or(0);
    let max_requests = crate::forms::positive_number(&form.max_requests).unwrap_or_else(|()| {
        problem("max_requests", "review-number-invalid");
        None
    });
    let max_mb = crate::forms::positive_number(&form.max_mb).unwrap_or_else(|()| {
        problem("max_mb", "review-number-invalid");
        None
    });
    let fee_per_request = fen(&form.fee_per_request).unwrap_or_else(|| {
        problem("fee_per_request", "offer-fee-invalid");
        0
    });
    let max_rows = crate::forms::positive_number(&form.max_rows).unwrap_or_else(|()| {
        problem("max_rows", "review-number-invalid");
        None
    });
    let fee_per_mb = fen(&form.fee_per_mb).unwrap_or_else(|| {
        problem("fee_per_mb", "offer-fee-invalid");
        0
    });
    let current = state
        .licensing
        .offer(Some(&principal), &slug)
        .await
        .ok()
        .flatten();
    // Rules that deliver the columns as they are marked are stored as none, so a column
    // added by a later upload follows its marking too. Without loaded tables (no choices
    // shown) the rules set through the API are kept.
    let column_rules = match crate::columns::from_form(&body) {
        None => current.as_ref().and_then(|o| o.column_rules.clone()),
        Some(Err(key)) => {
            problem("column_rules", key);
            None
        }
        Some(Ok(chosen)) => {
            let columns = match state.catalog.dataset(Some(&principal), &slug).await {
                Ok(view) => crate::columns::of_dataset(&state.rows, &view.distributions)
                    .await
                    .unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            (!crate::columns::same_effect(None, Some(&chosen), &columns)).then_some(chosen)
        }
    };
    let result = if problems.is_empty() {
        state
            .licensing
            .put_offer(
                &principal,
                &slug,
                pdx_licensing::service::OfferInput {
                    licence_id: form.licence_id.trim().to_owned(),
                    purposes: form.purposes.clone(),
                    max_term_days: term,
                    max_requests,
                    max_bytes: max_mb.map(|mb| mb.saturating_mul(1_000_000)),
                    max_rows,
                    fee_per_request,
                    fee_per_mb,
                    column_rules,
                },
                &request_context(&req, &ctx),
            )
            .await
            .map(|_| ())
    } else {
        Ok(())
    };
    match result {
        Ok(()) if problems.is_empty() => HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                format!("/workspace/agency/datasets/{slug}#offer-title"),
            ))
            .finish(),
        Ok(()) => finish(manage_page(ctx.clone(), &state, &principal, &slug, &problems).await),
        Err(pdx_licensing::LicensingError::InvalidInput { field, .. }) => {
            let key = match field {
                "purposes" => "offer-purposes-invalid",
                "max_term_days" => "offer-term-invalid",
                "licence_id" => "offer-licence-invalid",
                "column_rules" => "columns-invalid",
                _ => "review-number-invalid",
            };
            let field = if field == "max_bytes" {
                "max_mb"
            } else {
                field
            };
            let problems = [Problem {
                field: field.into(),
                message: ctx.t(key),
            }];
            finish(manage_page(ctx.clone(), &state, &principal, &slug, &problems).await)
        }
        Err(error) => WebError::from(error).page(&ctx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_in_yuan_are_read_to_the_fen() {
        assert_eq!(fen(""), Some(0));
        assert_eq!(fen("0.5"), Some(50));
        assert_eq!(fen("12"), Some(1200));
        assert_eq!(fen("12.05"), Some(1205));
        assert_eq!(fen("1.234"), None);
        assert_eq!(fen("-1"), None);
        assert_eq!(fen("1e3"), None);
        assert_eq!(fen("99999999999999999999"), None);
    }
}
