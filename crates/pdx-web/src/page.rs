//! What every page shares: the request's context (language, path, request id) and the frame
//! around a page's content (header with navigation and the language switch, footer).

use actix_web::dev::Payload;
use actix_web::http::header::{self, ContentType};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use pdx_core::RequestId;

use crate::WebState;
use crate::assets;
use crate::i18n::{LANG_COOKIE, Lang};

/// The request as pages see it.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The visitor's language.
    pub lang: Lang,
    /// The path and query of this page, to come back to after switching language.
    pub here: String,
    /// The request id, for support.
    pub request_id: String,
    /// The portal's name in the visitor's language.
    pub site: String,
    /// The signed-in session, if any.
    pub session: Option<pdx_access::sessions::Session>,
}

impl Ctx {
    /// Builds the context of a request.
    pub fn of(req: &HttpRequest) -> Self {
        let cookie = req.cookie(LANG_COOKIE);
        let accept = req
            .headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        let lang = Lang::choose(cookie.as_ref().map(|c| c.value()), accept);
        let here = match req.uri().path_and_query() {
            Some(pq) => pq.as_str().to_owned(),
            None => "/".to_owned(),
        };
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map(|id| id.as_str().to_owned())
            .unwrap_or_default();
        let site = req
            .app_data::<web::Data<WebState>>()
            .map(|state| state.settings.site_name(lang).to_owned())
            .unwrap_or_default();
        Self {
            lang,
            here,
            request_id,
            site,
            session: None,
        }
    }

    /// The context of a request, with the session its cookie names (read from the database;
    /// a request without the cookie costs nothing more).
    pub async fn load(req: &HttpRequest) -> Self {
        let mut ctx = Self::of(req);
        let secret = req.cookie(crate::session::SESSION_COOKIE);
        if let (Some(secret), Some(state)) = (secret, req.app_data::<web::Data<WebState>>()) {
            match state.access.session(secret.value()).await {
                Ok(session) => ctx.session = session,
                // The page is still shown, as to someone signed out.
                Err(error) => tracing::warn!(%error, "cannot read the portal session"),
            }
        }
        ctx
    }

    /// The signed-in session's CSRF token, for the forms of the page (empty when signed out).
    pub fn csrf(&self) -> String {
        self.session
            .as_ref()
            .map(|s| s.csrf_token.clone())
            .unwrap_or_default()
    }

    /// A message in the visitor's language.
    pub fn t(&self, key: &str) -> String {
        self.lang.t(key)
    }

    /// `next=<this page>`, encoded, for links that should come back here.
    pub fn next_query(&self) -> String {
        serde_urlencoded::to_string([("next", self.here.as_str())]).unwrap_or_default()
    }
}

impl FromRequest for Ctx {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ok(Ctx::load(&req).await) })
    }
}

/// The main navigation: path and message key.
const NAVIGATION: [(&str, &str); 4] = [
    ("/datasets", "nav-datasets"),
    ("/organizations", "nav-organizations"),
    ("/reports", "nav-reports"),
    ("/api/docs/", "nav-api"),
];

/// A whole page: the frame around `content`, titled `title`.
pub fn frame(ctx: &Ctx, title: &str, content: Markup) -> Markup {
    let lang = ctx.lang;
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (ctx.site) }
                link rel="stylesheet" href=(assets::stylesheet_path());
                link rel="icon" href="data:,";
                script src=(assets::script_path()) defer {}
            }
            body {
                a.skip href="#main" { (ctx.t("skip-to-content")) }
                header.site {
                    div.wrap.bar {
                        a.brand href="/" {
                            span.mark aria-hidden="true" { "PDX" }
                            span.name { (ctx.site) }
                        }
                        nav aria-label=(ctx.t("nav-label")) {
                            ul {
                                @for (path, key) in NAVIGATION {
                                    li {
                                        @if ctx.here == path || (path != "/" && ctx.here.starts_with(path)) {
                                            a href=(path) aria-current="page" { (ctx.t(key)) }
                                        } @else {
                                            a href=(path) { (ctx.t(key)) }
                                        }
                                    }
                                }
                            }
                        }
                        div.tools {
                            (language_switch(ctx))
                            (account(ctx))
                        }
                    }
                }
                main #main.wrap tabindex="-1" {
                    (content)
                }
                (footer(ctx))
            }
        }
    }
}

fn language_switch(ctx: &Ctx) -> Markup {
    let next = ctx.next_query();
    html! {
        ul.lang aria-label=(ctx.t("language-switch")) {
            @for lang in Lang::ALL {
                li {
                    @if lang == ctx.lang {
                        span lang=(lang.code()) aria-current="true" { (lang.own_name()) }
                    } @else {
                        a lang=(lang.code()) hreflang=(lang.code()) rel="alternate"
                            href={ "/lang/" (lang.slug()) "?" (next) } { (lang.own_name()) }
                    }
                }
            }
        }
    }
}

/// Sign in, or who is signed in with their workspace and sign-out.
fn account(ctx: &Ctx) -> Markup {
    match &ctx.session {
        None => html! {
            a.account href={ "/sign-in?" (ctx.next_query()) } { (ctx.t("account-sign-in")) }
        },
        Some(session) => html! {
            div.account {
                a href="/workspace" title={ (session.organization_name) " · " (session.email) } { (ctx.t("account-workspace")) }
                form.inline method="post" action="/sign-out" {
                    input type="hidden" name="csrf" value=(session.csrf_token);
                    button.link type="submit" { (ctx.t("account-sign-out")) }
                }
            }
        },
    }
}

fn footer(ctx: &Ctx) -> Markup {
    html! {
        footer.site {
            div.wrap {
                p { (ctx.t("footer-about")) }
                ul.links {
                    li { a href="/about" { (ctx.t("footer-about-link")) } }
                    li { a href="/api/docs/" { (ctx.t("footer-api-docs")) } }
                    li { a href="/catalog.ttl" { (ctx.t("footer-dcat")) } }
                    li { a href="/api/3/action/package_list" { (ctx.t("footer-ckan")) } }
                    li { a href="/api/v1/ledger/key" { (ctx.t("footer-ledger-key")) } }
                    li { a href="/api/v1/ledger/checkpoint" { (ctx.t("footer-checkpoint")) } }
                    li { a href="/accessibility" { (ctx.t("footer-accessibility")) } }
                }
            }
        }
    }
}

/// A dataset's title in the reader's language where it has a translation, else its own.
pub fn dataset_title(ctx: &Ctx, dataset: &pdx_catalog::model::Dataset) -> String {
    dataset.in_language(ctx.lang.slug()).0.to_owned()
}

/// The breadcrumbs above a page: home, then each (path, label).
pub fn crumbs(ctx: &Ctx, trail: &[(&str, &str)]) -> Markup {
    html! {
        nav.crumbs aria-label=(ctx.t("crumbs-label")) {
            ol {
                li { a href="/" { (ctx.t("nav-home")) } }
                @for (href, label) in trail {
                    li { a href=(href) { (label) } }
                }
            }
        }
    }
}

/// An HTML answer with this status.
pub fn respond(status: actix_web::http::StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(ContentType::html())
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::VARY, "Accept-Language, Cookie"))
        .body(markup.into_string())
}

/// A 200 HTML page.
pub fn ok(markup: Markup) -> HttpResponse {
    respond(actix_web::http::StatusCode::OK, markup)
}

/// Text that the search engine has already escaped and marked up (`<mark>` only).
pub fn marked(highlight: &str) -> PreEscaped<&str> {
    PreEscaped(highlight)
}
