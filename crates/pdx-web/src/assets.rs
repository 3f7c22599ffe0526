//! The portal's one stylesheet and one small script, compiled in and served under a name
//! that carries their digest, so browsers keep them until they change.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use sha2::{Digest, Sha256};

const STYLESHEET: &str = include_str!("../static/pdx.css");
const SCRIPT: &str = include_str!("../static/pdx.js");

struct Asset {
    path: String,
    body: &'static str,
    content_type: &'static str,
}

fn asset(stem: &str, extension: &str, body: &'static str, content_type: &'static str) -> Asset {
    let digest = Sha256::digest(body.as_bytes());
    Asset {
        path: format!("/static/{stem}-{}.{extension}", hex::encode(&digest[..6])),
        body,
        content_type,
    }
}

static ASSETS: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    [
        asset("pdx", "css", STYLESHEET, "text/css; charset=utf-8"),
        asset("pdx", "js", SCRIPT, "text/javascript; charset=utf-8"),
    ]
});

/// Where the stylesheet is served.
pub fn stylesheet_path() -> &'static str {
    &ASSETS[0].path
}

/// Where the script is served.
pub fn script_path() -> &'static str {
    &ASSETS[1].path
}

/// Serves an asset by its digest-carrying name; an old or unknown name is not found.
#[get("/static/{name}")]
pub(crate) async fn static_asset(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    let path = format!("/static/{name}");
    match ASSETS.iter().find(|asset| asset.path == path) {
        Some(asset) => HttpResponse::Ok()
            .content_type(asset.content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .body(asset.body),
        None => crate::error::not_found_page(&crate::page::Ctx::load(&req).await),
    }
}
