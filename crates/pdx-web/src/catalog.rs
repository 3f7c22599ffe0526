//! The public catalog in the browser: the home page, search results with facets and
//! highlights, and the dataset page that answers "can I have it, and how?".

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, get, web};
use maud::{Markup, html};
use pdx_catalog::DatasetView;
use pdx_catalog::model::{DatasetStatus, DistributionKind};
use pdx_catalog::search::{FacetCount, Facets, SearchQuery, Sort};
use pdx_core::{DistributionId, OpeningClass, PageRequest, SharingClass};
use serde::Deserialize;

use crate::WebState;
use crate::error::{PageResult, WebError, finish};
use crate::i18n::{Arg, Lang};
use crate::page::{Ctx, crumbs, frame, marked, ok};
use crate::words;

/// Results per page.
const PER_PAGE: u32 = 20;
/// The deepest page offered: visitors refine rather than page through thousands.
const MAX_PAGE: u32 = 250;
/// The longest query text taken.
const MAX_QUERY: usize = 200;

/// A dataset as a result card shows it, read from the search index's rendering.
#[derive(Debug, Deserialize)]
pub(crate) struct Card {
    pub(crate) id: String,
    pub(crate) slug: String,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    translations: pdx_catalog::model::Translations,
    #[serde(default)]
    pub(crate) themes: Vec<String>,
    pub(crate) sharing_class: String,
    pub(crate) opening_class: String,
    pub(crate) grade: String,
    #[serde(default)]
    pub(crate) modified_at: String,
    pub(crate) publisher: CardPublisher,
    #[serde(default)]
    pub(crate) distributions: Vec<CardDistribution>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CardPublisher {
    pub(crate) slug: String,
    pub(crate) name: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CardDistribution {
    pub(crate) format: String,
}

impl Card {
    /// Whether the dataset has a translation into the reader's language.
    fn translated(&self, lang: Lang) -> bool {
        self.translations.contains_key(lang.slug())
    }

    /// Whether that translation has a description of its own (else the card shows the
    /// dataset's).
    fn has_description_in(&self, lang: Lang) -> bool {
        self.translations
            .get(lang.slug())
            .is_some_and(|t| !t.description.is_empty())
    }

    /// The title and description in the reader's language where the dataset has them.
    fn in_language(&self, lang: Lang) -> (&str, &str) {
        pdx_catalog::model::in_language(
            &self.title,
            &self.description,
            &self.translations,
            lang.slug(),
        )
    }

    /// The title in the reader's language where there is one.
    pub(crate) fn title(&self, lang: Lang) -> &str {
        self.in_language(lang).0
    }

    fn formats(&self) -> Vec<&str> {
        let mut formats: Vec<&str> = self
            .distributions
            .iter()
            .map(|d| d.format.as_str())
            .collect();
        formats.sort_unstable();
        formats.dedup();
        formats
    }
}

/// The search form's fields, as the query string carries them. Unknown or malformed values
/// are ignored rather than refused: this is a page for people.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct SearchForm {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    theme: Option<String>,
    #[serde(default)]
    publisher: Option<String>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    opening: Option<String>,
    #[serde(default)]
    sharing: Option<String>,
    #[serde(default)]
    grade: Option<String>,
    #[serde(default)]
    licence: Option<String>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    page: Option<String>,
}

impl SearchForm {
    fn parse(query: &str) -> Self {
        let mut form: SearchForm = serde_urlencoded::from_str(query).unwrap_or_default();
        for field in [
            &mut form.q,
            &mut form.theme,
            &mut form.publisher,
            &mut form.format,
            &mut form.opening,
            &mut form.sharing,
            &mut form.grade,
            &mut form.licence,
            &mut form.sort,
            &mut form.page,
        ] {
            if let Some(value) = field.take() {
                let value: String = value.trim().chars().take(MAX_QUERY).collect();
                if !value.is_empty() {
                    *field = Some(value);
                }
            }
        }
        form
    }

    fn page(&self) -> u32 {
        self.page
            .as_deref()
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(1)
            .clamp(1, MAX_PAGE)
    }

    fn sort(&self) -> Sort {
        match self.sort.as_deref() {
            Some("modified") => Sort::Modified,
            Some("title") => Sort::Title,
            _ => Sort::Relevance,
        }
    }

    fn filters(&self) -> [(&'static str, Option<&String>); 7] {
        [
            ("theme", self.theme.as_ref()),
            ("publisher", self.publisher.as_ref()),
            ("format", self.format.as_ref()),
            ("opening", self.opening.as_ref()),
            ("sharing", self.sharing.as_ref()),
            ("grade", self.grade.as_ref()),
            ("licence", self.licence.as_ref()),
        ]
    }

    /// This search's URL with one field changed (and the page reset unless it is the page).
    fn with(&self, field: &str, value: Option<&str>) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(q) = &self.q {
            pairs.push(("q", q.clone()));
        }
        for (name, current) in self.filters() {
            if let Some(current) = current {
                pairs.push((name, current.clone()));
            }
        }
        if let Some(sort) = &self.sort {
            pairs.push(("sort", sort.clone()));
        }
        if field == "page" {
            if let Some(page) = value {
                pairs.push(("page", page.to_owned()));
            }
        } else {
            pairs.retain(|(name, _)| *name != field);
            if let Some(value) = value {
                pairs.push((field, value.to_owned()));
            }
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        if query.is_empty() {
            "/datasets".to_owned()
        } else {
            format!("/datasets?{query}")
        }
    }

    fn query(&self, publisher: Option<String>, page: PageRequest) -> SearchQuery {
        SearchQuery {
            text: self.q.clone(),
            theme: self.theme.as_ref().map(|t| t.to_ascii_uppercase()),
            keyword: None,
            format: self.format.clone(),
            publisher,
            opening_class: self.opening.clone(),
            sharing_class: self.sharing.clone(),
            grade: self.grade.clone(),
            licence: self.licence.clone(),
            modified_since: None,
            sort: self.sort(),
            offset: page.offset(),
            limit: page.limit(),
            facet_limit: 12,
        }
    }
}

/// Cards from the index's renderings; one that does not parse is left out and logged.
pub(crate) fn cards(rendered: &[Vec<u8>]) -> Vec<Card> {
    rendered
        .iter()
        .filter_map(|bytes| match serde_json::from_slice::<Card>(bytes) {
            Ok(card) => Some(card),
            Err(error) => {
                tracing::warn!(%error, "search index rendering does not read as a dataset");
                None
            }
        })
        .collect()
}

/// The home page: search, themes with counts, newest and most used datasets.
#[get("/")]
pub(crate) async fn home(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    finish(home_page(ctx, &state).await)
}

/// What the home page shows of the catalog.
#[derive(Debug)]
pub(crate) struct HomeFigures {
    total: i64,
    themes: Vec<FacetCount>,
    newest: Vec<Card>,
}

impl WebState {
    async fn home_figures(&self) -> Result<std::sync::Arc<HomeFigures>, WebError> {
        if let Some(kept) = self.home.fresh() {
            return Ok(kept);
        }
        let page = PageRequest::new(Some(1), Some(6));
        let newest = SearchQuery {
            sort: Sort::Modified,
            offset: page.offset(),
            limit: page.limit(),
            facet_limit: 20,
            ..SearchQuery::default()
        };
        let found = self.catalog.search_rendered(newest, page).await?;
        Ok(self.home.keep(HomeFigures {
            total: found.page.total,
            themes: found.facets.theme,
            newest: cards(&found.page.items),
        }))
    }
}

async fn home_page(ctx: Ctx, state: &WebState) -> PageResult {
    let found = state.home_figures().await.map_err(|e| (ctx.clone(), e))?;
    let newest = &found.newest;
    let most_used = state.most_used(6).await.map_err(|e| (ctx.clone(), e))?;
    let lang = ctx.lang;
    let content = html! {
        section.hero aria-labelledby="home-title" {
            h1 #home-title { (ctx.t("home-title")) }
            p.lead { (ctx.t("home-lead")) }
            (search_box(&ctx, None, true))
            p.hint { (ctx.t("home-total")) " " strong { (lang.number(found.total)) } }
        }
        section aria-labelledby="themes-title" {
            h2 #themes-title { (ctx.t("home-themes")) }
            ul.tiles {
                @for theme in &found.themes {
                    li {
                        a href={ "/datasets?theme=" (theme.value) } {
                            span.tile-name { (words::theme_name(lang, &theme.value)) }
                            span.tile-count { (lang.t_with("search-count", &[("count", Arg::Number(theme.count))])) }
                        }
                    }
                }
            }
        }
        div.columns {
            section aria-labelledby="newest-title" {
                h2 #newest-title { (ctx.t("home-newest")) }
                ul.compact {
                    @for card in newest {
                        li {
                            a href={ "/datasets/" (card.slug) } { (card.title(lang)) }
                            span.meta { (card.publisher.name) " · " (lang.timestamp_date(&card.modified_at)) }
                        }
                    }
                }
                p { a href="/datasets?sort=modified" { (ctx.t("home-all-newest")) } }
            }
            section aria-labelledby="used-title" {
                h2 #used-title { (ctx.t("home-most-used")) }
                @if most_used.is_empty() {
                    p { (ctx.t("home-most-used-none")) }
                } @else {
                    ol.compact {
                        @for (used, requests) in most_used.iter() {
                            li {
                                a href={ "/datasets/" (used.slug) } { (used.in_language(lang.slug()).0) }
                                span.meta { (lang.t_with("home-requests", &[("count", Arg::Number(*requests))])) }
                            }
                        }
                    }
                }
            }
        }
        section.explain aria-labelledby="how-title" {
            h2 #how-title { (ctx.t("home-how-title")) }
            ol.steps {
                li { (ctx.t("home-how-open")) }
                li { (ctx.t("home-how-conditional")) }
                li { (ctx.t("home-how-ledger")) }
            }
        }
    };
    Ok(ok(frame(&ctx, &ctx.t("home-title"), content)))
}

/// The search box, with suggestions added by the script where it runs.
fn search_box(ctx: &Ctx, form: Option<&SearchForm>, large: bool) -> Markup {
    let q = form.and_then(|f| f.q.as_deref()).unwrap_or("");
    html! {
        form.search.large[large] role="search" action="/datasets" method="get" {
            label for="q" { (ctx.t("search-label")) }
            div.search-row {
                input #q type="search" name="q" value=(q) maxlength="200"
                    autocomplete="off" data-suggest="/api/v1/datasets/suggest"
                    placeholder=(ctx.t("search-placeholder"))
                    aria-describedby="q-hint";
                button type="submit" { (ctx.t("search-button")) }
            }
            p #q-hint.hint { (ctx.t("search-hint")) }
            @if let Some(form) = form {
                @for (name, value) in form.filters() {
                    @if let Some(value) = value {
                        input type="hidden" name=(name) value=(value);
                    }
                }
            }
        }
    }
}

/// Search results with facets, highlights and paging.
#[get("/datasets")]
pub(crate) async fn search(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let form = SearchForm::parse(req.query_string());
    finish(search_page(ctx, &state, form).await)
}

async fn search_page(ctx: Ctx, state: &WebState, form: SearchForm) -> PageResult {
    let page = PageRequest::new(Some(form.page()), Some(PER_PAGE));
    let publisher = match form.publisher.as_deref() {
        Some(key) => state
            .catalog
            .organization_id(key)
            .await
            .map_err(|e| (ctx.clone(), e.into()))?
            .map(|id| id.to_string()),
        None => None,
    };
    // A publisher nobody knows matches nothing.
    let unknown_publisher = form.publisher.is_some() && publisher.is_none();
    let found = if unknown_publisher {
        None
    } else {
        Some(
            state
                .catalog
                .search_rendered(form.query(publisher, page), page)
                .await
                .map_err(|e| (ctx.clone(), e.into()))?,
        )
    };
    let (items, total, facets, highlights) = match found {
        Some(found) => (
            cards(&found.page.items),
            found.page.total,
            found.facets,
            found.highlights,
        ),
        None => (Vec::new(), 0, Facets::default(), HashMap::new()),
    };
    let lang = ctx.lang;
    let title = match &form.q {
        Some(q) => lang.t_with("search-title-for", &[("query", Arg::Text(q.clone()))]),
        None => ctx.t("search-title"),
    };
    let pages = ((total + i64::from(PER_PAGE) - 1) / i64::from(PER_PAGE)).min(i64::from(MAX_PAGE));
    let current = i64::from(form.page());
    let content = html! {
        h1 { (title) }
        (search_box(&ctx, Some(&form), false))
        div.results-layout {
            aside.facets aria-label=(ctx.t("facets-label")) {
                (facet_group(&ctx, &form, "theme", "facet-theme", &facets.theme, |v, _| words::theme_name(lang, v)))
                (facet_group(&ctx, &form, "publisher", "facet-publisher", &facets.publisher, |v, name| name.map_or_else(|| v.to_owned(), str::to_owned)))
                (facet_group(&ctx, &form, "format", "facet-format", &facets.format, |v, _| v.to_owned()))
                (facet_group(&ctx, &form, "opening", "facet-opening", &facets.opening_class, |v, _| words::opening_from(v).map_or_else(|| v.to_owned(), |c| lang.t(words::opening_key(c)))))
                (facet_group(&ctx, &form, "sharing", "facet-sharing", &facets.sharing_class, |v, _| words::sharing_from(v).map_or_else(|| v.to_owned(), |c| lang.t(words::sharing_key(c)))))
                (facet_group(&ctx, &form, "grade", "facet-grade", &facets.grade, |v, _| words::grade_from(v).map_or_else(|| v.to_owned(), |g| lang.t(words::grade_key(g)))))
                (facet_group(&ctx, &form, "licence", "facet-licence", &facets.licence, |v, name| name.map_or_else(|| v.to_owned(), str::to_owned)))
            }
            section.results aria-labelledby="result-count" {
                div.results-head {
                    p #result-count role="status" { (lang.t_with("search-count", &[("count", Arg::Number(total))])) }
                    (sort_links(&ctx, &form))
                }
                @if items.is_empty() {
                    div.empty {
                        h2 { (ctx.t("search-none-title")) }
                        ul {
                            li { (ctx.t("search-none-words")) }
                            li { (ctx.t("search-none-filters")) " " a href="/datasets" { (ctx.t("search-clear")) } }
                            li { (ctx.t("search-none-languages")) }
                        }
                    }
                } @else {
                    ol.cards start=((current - 1) * i64::from(PER_PAGE) + 1) {
                        @for card in &items {
                            (result_card(&ctx, card, highlights.get(&card.id)))
                        }
                    }
                    @if pages > 1 {
                        (pager(&ctx, &form, current, pages))
                    }
                }
            }
        }
    };
    Ok(ok(frame(&ctx, &title, content)))
}

fn facet_group(
    ctx: &Ctx,
    form: &SearchForm,
    field: &str,
    key: &str,
    counts: &[FacetCount],
    name: impl Fn(&str, Option<&str>) -> String,
) -> Markup {
    let selected = form
        .filters()
        .into_iter()
        .find(|(n, _)| *n == field)
        .and_then(|(_, v)| v.cloned());
    if counts.is_empty() && selected.is_none() {
        return html! {};
    }
    let lang = ctx.lang;
    html! {
        section.facet {
            h2 { (ctx.t(key)) }
            ul {
                @for count in counts {
                    @let label = name(&count.value, count.name.as_deref());
                    @let on = selected.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(&count.value) || Some(s) == count.name.as_deref());
                    li {
                        @if on {
                            a.on href=(form.with(field, None)) aria-current="true" {
                                span { (label) }
                                span.count { (lang.number(count.count)) }
                                span.visually-hidden { " " (ctx.t("facet-remove")) }
                            }
                        } @else {
                            a href=(form.with(field, Some(&count.value))) {
                                span { (label) }
                                span.count { (lang.number(count.count)) }
                            }
                        }
                    }
                }
                @if let Some(selected) = &selected {
                    @if !counts.iter().any(|c| c.value.eq_ignore_ascii_case(selected)) {
                        li { a.on href=(form.with(field, None)) { (selected) " ✕" } }
                    }
                }
            }
        }
    }
}

fn sort_links(ctx: &Ctx, form: &SearchForm) -> Markup {
    let current = form.sort.as_deref().unwrap_or("relevance");
    html! {
        nav.sort aria-label=(ctx.t("sort-label")) {
            span { (ctx.t("sort-label")) (ctx.lang.colon()) }
            @for (value, key) in [("relevance", "sort-relevance"), ("modified", "sort-modified"), ("title", "sort-title")] {
                @if value == current {
                    strong aria-current="true" { (ctx.t(key)) }
                } @else {
                    a href=(form.with("sort", Some(value))) { (ctx.t(key)) }
                }
                " "
            }
        }
    }
}

fn pager(ctx: &Ctx, form: &SearchForm, current: i64, pages: i64) -> Markup {
    let window: Vec<i64> = (1..=pages)
        .filter(|p| *p == 1 || *p == pages || (*p - current).abs() <= 2)
        .collect();
    html! {
        nav.pager aria-label=(ctx.t("pager-label")) {
            ul {
                @if current > 1 {
                    li { a rel="prev" href=(form.with("page", Some(&(current - 1).to_string()))) { "‹ " (ctx.t("pager-previous")) } }
                }
                @for (i, p) in window.iter().enumerate() {
                    @if i > 0 && window[i - 1] + 1 != *p {
                        li.gap aria-hidden="true" { "…" }
                    }
                    li {
                        @if *p == current {
                            span aria-current="page" { (p) }
                        } @else {
                            a href=(form.with("page", Some(&p.to_string()))) { (p) }
                        }
                    }
                }
                @if current < pages {
                    li { a rel="next" href=(form.with("page", Some(&(current + 1).to_string()))) { (ctx.t("pager-next")) " ›" } }
                }
            }
        }
    }
}

fn result_card(
    ctx: &Ctx,
    card: &Card,
    highlight: Option<&pdx_catalog::search::Highlight>,
) -> Markup {
    let lang = ctx.lang;
    let description = card.in_language(lang).1;
    let summary: String = description.chars().take(220).collect();
    // The marks of what the card shows: the translation into the reader's language where
    // there is one (its description where it has one), else the dataset's own.
    let translated = highlight.and_then(|h| h.translations.get(lang.slug()));
    let title_marks = if card.translated(lang) {
        translated
    } else {
        highlight
    };
    let description_marks = if card.has_description_in(lang) {
        translated
    } else {
        highlight
    };
    html! {
        li.card {
            h3 {
                a href={ "/datasets/" (card.slug) } {
                    @match title_marks {
                        Some(h) if !h.title.is_empty() => (marked(&h.title)),
                        _ => (card.title(lang)),
                    }
                }
            }
            p.meta {
                a href={ "/organizations/" (card.publisher.slug) } { (card.publisher.name) }
                " · " (ctx.t("card-updated")) " " (lang.timestamp_date(&card.modified_at))
            }
            p.summary {
                @match description_marks {
                    Some(h) if !h.description.is_empty() => (marked(&h.description)),
                    _ => {
                        (summary)
                        @if description.chars().count() > 220 { "…" }
                    }
                }
            }
            div.card-foot {
                (card_badges(lang, card))
                ul.formats aria-label=(ctx.t("card-formats")) {
                    @for format in card.formats() {
                        li { (format) }
                    }
                }
            }
            @if !card.themes.is_empty() {
                p.themes.visually-hidden {
                    @for theme in &card.themes { (words::theme_name(lang, theme)) " " }
                }
            }
        }
    }
}

fn card_badges(lang: Lang, card: &Card) -> Markup {
    match (
        words::opening_from(&card.opening_class),
        words::sharing_from(&card.sharing_class),
        words::grade_from(&card.grade),
    ) {
        (Some(opening), Some(sharing), Some(grade)) => words::badges(lang, opening, sharing, grade),
        _ => html! {},
    }
}

/// The dataset page.
#[get("/datasets/{slug}")]
pub(crate) async fn dataset(
    req: HttpRequest,
    state: web::Data<WebState>,
    slug: web::Path<String>,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    finish(dataset_page(ctx, &state, &slug).await)
}

async fn dataset_page(ctx: Ctx, state: &WebState, slug: &str) -> PageResult {
    let view = state
        .catalog
        .dataset(None, slug)
        .await
        .map_err(|e| (ctx.clone(), WebError::from(e)))?;
    let licence = match &view.dataset.licence {
        Some(id) => state
            .licence_title(id)
            .await
            .map_err(|e| (ctx.clone(), e))?
            .map(|title| (id.clone(), title)),
        None => None,
    };
    // A signed-in member's standing with data that is not open: publisher, grant holder,
    // request pending, may request, may not.
    let standing = match &ctx.session {
        Some(session)
            if view.dataset.classification.opening != OpeningClass::Open
                && view.dataset.status != DatasetStatus::Withdrawn =>
        {
            Some(
                crate::exchange::standing(state, &session.principal, &view)
                    .await
                    .map_err(|e| (ctx.clone(), e))?,
            )
        }
        _ => None,
    };
    let d = &view.dataset;
    let lang = ctx.lang;
    let class = d.classification;
    let withdrawn = d.status == DatasetStatus::Withdrawn;
    // The files whose rows may be looked at here: loaded tables of open data, of the
    // publisher's own, or held under a grant (whose holder names a purpose first).
    let mut tables = Vec::new();
    if !withdrawn
        && (class.opening == OpeningClass::Open
            || matches!(
                standing,
                Some(crate::exchange::Standing::Publisher | crate::exchange::Standing::Granted(_))
            ))
    {
        for file in view
            .distributions
            .iter()
            .filter(|f| crate::table::tabular(f))
        {
            // The page stands without the link when the tables cannot be looked up.
            match state.rows.table(file.id).await {
                Ok(Some(_)) => tables.push(file.id),
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "a file's table could not be looked up"),
            }
        }
    }
    let publisher_page = format!("/organizations/{}", view.publisher.slug);
    // The title and description in the reader's language where the dataset has them, else its
    // own, marked with their language when it is not the page's.
    let (title, description) = d.in_language(lang.slug());
    let own = d.languages.first().map_or("zh", String::as_str);
    let text_lang =
        (!d.translations.contains_key(lang.slug()) && own != lang.slug()).then_some(own);
    let content = html! {
        (crumbs(&ctx, &[
            ("/datasets", &ctx.t("nav-datasets")),
            (&publisher_page, &view.publisher.name),
        ]))
        article.dataset {
            header {
                @if withdrawn {
                    div.notice role="note" {
                        strong { (ctx.t("dataset-withdrawn")) }
                        " " (ctx.t("dataset-withdrawn-detail"))
                    }
                }
                h1 lang=[text_lang] { (title) }
                p.meta {
                    (ctx.t("dataset-published-by")) " "
                    a href={ "/organizations/" (view.publisher.slug) } { (view.publisher.name) }
                    " · " (ctx.t("card-updated")) " " (lang.date(d.modified_at.date_naive()))
                    " · " (words::frequency(lang, &d.update_frequency))
                }
                (words::badges(lang, class.opening, class.sharing, class.grade))
            }
            div.dataset-top {
                div.summary {
                    @for paragraph in description.split('\n').filter(|p| !p.trim().is_empty()) {
                        p lang=[text_lang] { (paragraph) }
                    }
                    @if !d.keywords.is_empty() {
                        ul.keywords aria-label=(ctx.t("dataset-keywords")) {
                            @for keyword in &d.keywords {
                                li { a href={ "/datasets?q=" (urlencode(keyword)) } { (keyword) } }
                            }
                        }
                    }
                }
                @if !withdrawn {
                    @match &standing {
                        Some(standing) => (crate::exchange::standing_box(&ctx, &view, standing, &tables)),
                        None => (how_to_get(&ctx, &view)),
                    }
                }
            }
            section aria-labelledby="files-title" {
                h2 #files-title { (ctx.t("dataset-files")) }
                (distributions(&ctx, &view, !withdrawn, matches!(standing, Some(crate::exchange::Standing::Granted(_))), &tables))
            }
            section aria-labelledby="classes-title" {
                h2 #classes-title { (ctx.t("dataset-classes")) }
                dl.classes {
                    dt { (ctx.t("class-opening")) (ctx.lang.colon()) (ctx.t(words::opening_key(class.opening))) }
                    dd { (ctx.t(&format!("{}-about", words::opening_key(class.opening)))) }
                    dt { (ctx.t("class-sharing")) (ctx.lang.colon()) (ctx.t(words::sharing_key(class.sharing))) }
                    dd { (ctx.t(&format!("{}-about", words::sharing_key(class.sharing)))) }
                    dt { (ctx.t("class-grade")) (ctx.lang.colon()) (ctx.t(words::grade_key(class.grade))) }
                    dd { (ctx.t(&format!("{}-about", words::grade_key(class.grade)))) }
                }
                p { a href="/about#classes" { (ctx.t("class-rules-link")) } }
            }
            section aria-labelledby="meta-title" {
                h2 #meta-title { (ctx.t("dataset-metadata")) }
                dl.metadata {
                    @if let Some(code) = &d.resource_code {
                        dt { (ctx.t("meta-resource-code")) } dd { code { (code) } }
                    }
                    dt { (ctx.t("meta-publisher")) } dd { (view.publisher.name) }
                    dt { (ctx.t("meta-frequency")) } dd { (words::frequency(lang, &d.update_frequency)) }
                    @if !d.themes.is_empty() {
                        dt { (ctx.t("meta-themes")) }
                        dd { @for (i, theme) in d.themes.iter().enumerate() {
                            @if i > 0 { ", " }
                            a href={ "/datasets?theme=" (theme) } { (words::theme_name(lang, theme)) }
                        } }
                    }
                    @if let Some(spatial) = &d.spatial {
                        dt { (ctx.t("meta-spatial")) } dd { (spatial) }
                    }
                    @if d.temporal_start.is_some() || d.temporal_end.is_some() {
                        dt { (ctx.t("meta-temporal")) }
                        dd {
                            (d.temporal_start.map(|t| lang.date(t)).unwrap_or_default())
                            " – "
                            (d.temporal_end.map(|t| lang.date(t)).unwrap_or_default())
                        }
                    }
                    @if d.contact_name.is_some() || d.contact_email.is_some() {
                        dt { (ctx.t("meta-contact")) }
                        dd {
                            (d.contact_name.as_deref().unwrap_or(""))
                            @if let Some(email) = &d.contact_email {
                                " " a href={ "mailto:" (email) } { (email) }
                            }
                        }
                    }
                    dt { (ctx.t("meta-licence")) }
                    dd {
                        @match &licence {
                            Some((id, title)) => { (title) " (" code { (id) } ")" }
                            None => (ctx.t("meta-licence-agreement")),
                        }
                    }
                    dt { (ctx.t("meta-version")) } dd { (d.version) }
                    @if let Some(published) = d.published_at {
                        dt { (ctx.t("meta-first-published")) } dd { (lang.date(published.date_naive())) }
                    }
                    dt { (ctx.t("meta-modified")) } dd { (lang.date(d.modified_at.date_naive())) }
                }
            }
            section aria-labelledby="machines-title" {
                h2 #machines-title { (ctx.t("dataset-machines")) }
                ul.links {
                    li { a href={ "/api/v1/datasets/" (d.slug) } { "JSON" } }
                    li { a href={ "/dataset/" (d.id) ".ttl" } { "DCAT Turtle" } }
                    li { a href={ "/dataset/" (d.id) ".jsonld" } { "DCAT JSON-LD" } }
                    li { a href={ "/dataset/" (d.id) ".rdf" } { "DCAT RDF/XML" } }
                    li { a href={ "/api/3/action/package_show?id=" (d.slug) } { "CKAN package_show" } }
                }
            }
        }
    };
    Ok(ok(frame(&ctx, title, content)))
}

/// Where a visitor without an account stands with this dataset, and what to do next.
fn how_to_get(ctx: &Ctx, view: &DatasetView) -> Markup {
    let class = view.dataset.classification;
    let (key, tone) = match class.opening {
        OpeningClass::Open => ("get-open", "open"),
        OpeningClass::Conditional => ("get-conditional", "conditional"),
        OpeningClass::Closed if class.sharing != SharingClass::None => {
            ("get-agencies-only", "closed")
        }
        OpeningClass::Closed => ("get-closed", "closed"),
    };
    let first_file = view
        .distributions
        .iter()
        .find(|d| d.kind == DistributionKind::File);
    // Open data that is only live services is called, not downloaded.
    let services_only = first_file.is_none()
        && view
            .distributions
            .iter()
            .any(|d| d.kind == DistributionKind::Api);
    let (answer, ledger) = match key {
        "get-open" if services_only => ("get-open-service", "get-open-service-ledger"),
        _ => (key, "get-open-ledger"),
    };
    html! {
        aside.get.(tone) aria-labelledby="get-title" {
            h2 #get-title { (ctx.t("get-title")) }
            p.get-answer { strong { (ctx.t(answer)) } }
            p { (ctx.t(&format!("{key}-detail"))) }
            @match class.opening {
                OpeningClass::Open => {
                    @if let Some(file) = first_file {
                        a.button href={ "/api/v1/distributions/" (file.id) "/data" } download {
                            (ctx.t("get-download")) " " (file.format)
                        }
                    }
                    p.small { (ctx.t(ledger)) }
                }
                OpeningClass::Conditional => {
                    a.button href={ "/sign-in?next=/datasets/" (view.dataset.slug) } { (ctx.t("get-sign-in")) }
                }
                OpeningClass::Closed => {}
            }
        }
    }
}

/// The files of a dataset and how to get each; `tables` are those whose rows may be looked at.
fn distributions(
    ctx: &Ctx,
    view: &DatasetView,
    obtainable: bool,
    granted: bool,
    tables: &[DistributionId],
) -> Markup {
    let lang = ctx.lang;
    let open = obtainable && view.dataset.classification.opening == OpeningClass::Open;
    if view.distributions.is_empty() {
        return html! { p { (ctx.t("dataset-no-files")) } };
    }
    html! {
        div.table-wrap {
            table.files {
                caption.visually-hidden { (ctx.t("dataset-files")) }
                thead {
                    tr {
                        th scope="col" { (ctx.t("file-name")) }
                        th scope="col" { (ctx.t("file-format")) }
                        th scope="col" { (ctx.t("file-size")) }
                        th scope="col" { (ctx.t("file-updated")) }
                        th scope="col" { (ctx.t("file-action")) }
                    }
                }
                tbody {
                    @for d in &view.distributions {
                        tr {
                            th scope="row" {
                                (d.title)
                                @if let Some(description) = &d.description {
                                    br; span.small { (description) }
                                }
                            }
                            td data-label=(ctx.t("file-format")) { (d.format) }
                            td data-label=(ctx.t("file-size")) { @if let Some(size) = d.byte_size { (lang.bytes(size)) } @else { "—" } }
                            td data-label=(ctx.t("file-updated")) { (lang.date(d.modified_at.date_naive())) }
                            td {
                                @if !obtainable {
                                    span.small { (ctx.t("file-withdrawn")) }
                                } @else if granted {
                                    span.small { (ctx.t("file-granted")) }
                                } @else if !open {
                                    span.small { (ctx.t("file-on-request")) }
                                } @else if d.kind == DistributionKind::File {
                                    a href={ "/api/v1/distributions/" (d.id) "/data" } download {
                                        (ctx.t("file-download"))
                                        span.visually-hidden { " " (d.title) }
                                    }
                                } @else {
                                    a href={ "/api/v1/distributions/" (d.id) "/data" } {
                                        (ctx.t("file-open-api"))
                                        span.visually-hidden { " " (d.title) }
                                    }
                                    br; span.small { (ctx.t("file-api-calls")) " " code { "/api/v1/distributions/" (d.id) "/api/…" } }
                                }
                                // A grant holder names a purpose first, in the box above.
                                @if tables.contains(&d.id) && !granted {
                                    br; (crate::table::link(ctx, &view.dataset.slug, d))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Percent-encodes a query value.
pub(crate) fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}
