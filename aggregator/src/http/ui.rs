//! The dashboard's page and its files, embedded in the binary: `GET /` is the page, `/ui/…` its
//! script, style and the vendored libraries (`aggregator/ui/vendor/VERSIONS`). Nothing is
//! loaded from anywhere else unless `[dashboard] tile_url` names a tile server.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};

use super::AppState;
use super::figures::accepts_gzip;

struct Asset {
    name: &'static str,
    bytes: &'static [u8],
    content_type: &'static str,
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        Asset {
            name: $name,
            bytes: include_bytes!(concat!("../../ui/", $name)),
            content_type: $type,
        }
    };
}

static ASSETS: &[Asset] = &[
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("vendor/leaflet.js", "text/javascript; charset=utf-8"),
    asset!("vendor/leaflet.css", "text/css; charset=utf-8"),
    asset!(
        "vendor/supercluster.min.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8"),
    asset!("vendor/uPlot.min.css", "text/css; charset=utf-8"),
    asset!("vendor/VERSIONS", "text/plain; charset=utf-8"),
    asset!("vendor/LICENSE.leaflet", "text/plain; charset=utf-8"),
    asset!("vendor/LICENSE.supercluster", "text/plain; charset=utf-8"),
    asset!("vendor/LICENSE.uplot", "text/plain; charset=utf-8"),
];

static INDEX: &[u8] = include_bytes!("../../ui/index.html");

/// Gzipped copies and ETags, made on first use.
fn packed() -> &'static Vec<(Vec<u8>, String)> {
    static PACKED: OnceLock<Vec<(Vec<u8>, String)>> = OnceLock::new();
    PACKED.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                use sha2::Digest as _;
                let hash = sha2::Sha256::digest(a.bytes);
                (
                    crate::dashboard::gzip(a.bytes),
                    format!("\"{}\"", hex_prefix(&hash)),
                )
            })
            .collect()
    })
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// The page's Content-Security-Policy: its own scripts, styles and API only, and the tile
/// server's images when one is configured.
fn csp(tiles: Option<&url::Url>) -> String {
    let tile_origin = tiles
        .map(|u| format!(" {}", u.origin().ascii_serialization()))
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:{tile_origin}; \
         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
}

/// The dashboard.
#[get("/")]
pub async fn index(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            csp(state.dashboard.config.tile_url.as_ref()),
        ))
        .body(INDEX)
}

/// One of the page's files.
#[get("/ui/{file:.*}")]
pub async fn file(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let name = path.into_inner();
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return actix_web::ResponseError::error_response(&super::ApiError::not_found(format!(
            "no file {name}"
        )));
    };
    let (asset, (gz, etag)) = (&ASSETS[i], &packed()[i]);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, etag.clone()))
        .insert_header((header::VARY, "Accept-Encoding"))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if fresh {
        return res.finish();
    }
    res.content_type(asset.content_type);
    if accepts_gzip(&req) {
        res.insert_header((header::CONTENT_ENCODING, "gzip"))
            .body(gz.clone())
    } else {
        res.body(asset.bytes)
    }
}
