//! The web client: the HTML, CSS and JavaScript modules of `crates/stoa-server/web/`,
//! served at `/` (the page) and `/assets/…` (everything it loads).
//!
//! The files are embedded in release builds (debug builds read them from the source tree
//! when the server starts, so that a change to the client needs only a restart). At start
//! every asset gets a content-hashed name (`app.3f2a1b9c0d.js`), and references between
//! assets (`"./rooms.js"` in a module, `"/assets/app.js"` in the page) are rewritten to
//! those names, so assets can be cached for a year and a new release is still fetched at
//! once. A name's hash covers the asset and every asset it reaches through such references,
//! so changing a module renames every module that imports it, directly or not. Each asset is
//! also kept gzip-compressed for browsers that accept it.
//!
//! The page is never cached, and carries the client's Content-Security-Policy: scripts,
//! styles and connections from this origin only, frames only from the origins of the
//! configured add-ins (listed only to a signed-in browser: add-in URLs are not for everyone).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::LazyLock;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

#[derive(rust_embed::Embed)]
#[folder = "web/"]
struct Sources;

/// The page every path of the client starts from.
const PAGE: &str = "index.html";

/// How long browsers may keep a hashed asset: its name changes with its content.
const ASSET_CACHE: &str = "public, max-age=31536000, immutable";

/// One file of the client, ready to serve.
#[derive(Debug)]
pub struct Asset {
    /// The name it is served under: `/assets/NAME` (for the page, `/`).
    pub served_name: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    pub gzipped: Vec<u8>,
    /// Quoted, for `ETag`.
    etag: String,
}

/// The client's files, by served name, and the page.
#[derive(Debug)]
pub struct Assets {
    pub page: Asset,
    pub by_served_name: BTreeMap<String, Asset>,
}

static ASSETS: LazyLock<Assets> = LazyLock::new(|| {
    let sources = Sources::iter()
        .filter_map(|name| {
            let file = Sources::get(&name)?;
            Some((name.into_owned(), file.data.into_owned()))
        })
        .collect();
    Assets::build(sources)
});

/// The client's assets, built on first use (the server builds them when it starts).
pub fn assets() -> &'static Assets {
    &ASSETS
}

impl Assets {
    /// Names every source by its content and what it references, and rewrites the
    /// references. `sources` maps each file's name in `web/` to its bytes.
    pub fn build(sources: BTreeMap<String, Vec<u8>>) -> Assets {
        let references: BTreeMap<&str, BTreeSet<&str>> = sources
            .iter()
            .map(|(name, bytes)| (name.as_str(), referenced(bytes, &sources)))
            .collect();
        let served_names: BTreeMap<&str, String> = sources
            .keys()
            .map(|name| {
                let mut hasher = Sha256::new();
                // Everything the asset reaches, itself included, in a fixed order: a cycle
                // of imports still gives each member one name.
                for reached in reachable(name, &references) {
                    hasher.update(reached.as_bytes());
                    hasher.update([0]);
                    hasher.update(&sources[reached]);
                }
                let digest = hex(&hasher.finalize()[..5]);
                (name.as_str(), hashed_name(name, &digest))
            })
            .collect();
        let mut page = None;
        let mut by_served_name = BTreeMap::new();
        for (name, bytes) in &sources {
            let bytes = rewrite(bytes, &references[name.as_str()], &served_names);
            let content_type = content_type(name);
            if name == PAGE {
                page = Some(Asset::new("/".to_owned(), content_type, bytes));
            } else {
                let served = served_names[name.as_str()].clone();
                by_served_name.insert(served.clone(), Asset::new(served, content_type, bytes));
            }
        }
        Assets {
            page: page.unwrap_or_else(|| {
                Asset::new(
                    "/".to_owned(),
                    "text/html; charset=utf-8",
                    b"<!doctype html><title>Stoa</title><p>The web client is missing from this build.".to_vec(),
                )
            }),
            by_served_name,
        }
    }
}

impl Asset {
    fn new(served_name: String, content_type: &'static str, bytes: Vec<u8>) -> Asset {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        // Writing to memory cannot fail.
        let gzipped = encoder
            .write_all(&bytes)
            .and_then(|()| encoder.finish())
            .unwrap_or_default();
        let etag = format!("\"{}\"", hex(&Sha256::digest(&bytes)[..12]));
        Asset {
            served_name,
            content_type,
            bytes,
            gzipped,
            etag,
        }
    }

    /// The asset as an answer: gzip-compressed where the browser accepts it, 304 where it
    /// already holds this version.
    fn answer(&self, request: &HeaderMap, cache_control: &'static str) -> Response {
        let mut response = if request
            .get(header::IF_NONE_MATCH)
            .is_some_and(|value| value.as_bytes() == self.etag.as_bytes())
        {
            StatusCode::NOT_MODIFIED.into_response()
        } else if accepts_gzip(request) && !self.gzipped.is_empty() {
            let mut response = Body::from(self.gzipped.clone()).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            response
        } else {
            Body::from(self.bytes.clone()).into_response()
        };
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        );
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        if let Ok(etag) = HeaderValue::from_str(&self.etag) {
            headers.insert(header::ETAG, etag);
        }
        response
    }
}

/// The names of other sources that `bytes` refers to, as `"./NAME"` or `"/assets/NAME"`.
fn referenced<'a>(bytes: &[u8], sources: &'a BTreeMap<String, Vec<u8>>) -> BTreeSet<&'a str> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return BTreeSet::new();
    };
    sources
        .keys()
        .filter(|name| {
            text.contains(&format!("\"./{name}\"")) || text.contains(&format!("\"/assets/{name}\""))
        })
        .map(String::as_str)
        .collect()
}

/// `name` and every source it reaches through references, sorted.
fn reachable<'a>(name: &'a str, references: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Vec<&'a str> {
    let mut seen = BTreeSet::from([name]);
    let mut next = vec![name];
    while let Some(current) = next.pop() {
        for &referenced in references.get(current).into_iter().flatten() {
            if seen.insert(referenced) {
                next.push(referenced);
            }
        }
    }
    seen.into_iter().collect()
}

fn rewrite(
    bytes: &[u8],
    references: &BTreeSet<&str>,
    served_names: &BTreeMap<&str, String>,
) -> Vec<u8> {
    if references.is_empty() {
        return bytes.to_vec();
    }
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    for name in references {
        let served = &served_names[name];
        text = text
            .replace(&format!("\"./{name}\""), &format!("\"./{served}\""))
            .replace(
                &format!("\"/assets/{name}\""),
                &format!("\"/assets/{served}\""),
            );
    }
    text.into_bytes()
}

/// `app.js` with digest `3f2a1b9c0d` is `app.3f2a1b9c0d.js`.
fn hashed_name(name: &str, digest: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, extension)) => format!("{stem}.{digest}.{extension}"),
        None => format!("{name}.{digest}"),
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|parameter| {
                parameter
                    .trim()
                    .strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>() == Ok(0.0))
            });
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

/// The page's Content-Security-Policy, with frames allowed from `frame_origins` only.
pub fn page_policy(frame_origins: &BTreeSet<String>) -> String {
    let frames = if frame_origins.is_empty() {
        "'none'".to_owned()
    } else {
        frame_origins.iter().cloned().collect::<Vec<_>>().join(" ")
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         connect-src 'self'; font-src 'self'; frame-src {frames}; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// The origin (`https://host:port`) of an add-in URL, as a CSP source; none for a URL that
/// is not http or https (the store accepts no others) or that does not parse.
fn frame_origin(url: &str) -> Option<String> {
    let origin = url.parse::<axum::http::Uri>().ok()?;
    let scheme = origin.scheme_str()?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let authority = origin.authority()?.as_str();
    // An authority with credentials or characters a policy cannot hold is left out.
    let host = authority.rsplit('@').next()?;
    host.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        .then(|| format!("{scheme}://{host}"))
}

/// `GET /`: the web client's page.
pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut frame_origins = BTreeSet::new();
    // Add-in origins only for a signed-in browser; the page of a stranger frames nothing.
    if let Some(token) = crate::auth::session_cookie(&headers)
        && crate::auth::Caller::from_token(&state, token).await.is_ok()
        && let Ok(addins) = state.store.addins().await
    {
        frame_origins.extend(addins.iter().filter_map(|addin| frame_origin(&addin.url)));
    }
    let mut response = assets().page.answer(&headers, "no-cache");
    if let Ok(policy) = HeaderValue::from_str(&page_policy(&frame_origins)) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

/// `GET /assets/{name}`: one of the client's files, by its hashed name.
pub async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match assets().by_served_name.get(&name) {
        Some(asset) => asset.answer(&headers, ASSET_CACHE),
        None => ApiError::not_found("asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(files: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        files
            .iter()
            .map(|(name, text)| ((*name).to_owned(), text.as_bytes().to_vec()))
            .collect()
    }

    fn served<'a>(assets: &'a Assets, stem: &str) -> &'a Asset {
        assets
            .by_served_name
            .values()
            .find(|asset| asset.served_name.starts_with(&format!("{stem}.")))
            .expect("asset is served")
    }

    #[test]
    fn references_are_rewritten_to_hashed_names() {
        let assets = Assets::build(sources(&[
            (
                "index.html",
                r#"<script type="module" src="/assets/app.js"></script>"#,
            ),
            ("app.js", r#"import { a } from "./dom.js";"#),
            ("dom.js", "export const a = 1;"),
        ]));
        let app = served(&assets, "app");
        let dom = served(&assets, "dom");
        let page = String::from_utf8(assets.page.bytes.clone()).unwrap();
        assert!(
            page.contains(&format!("\"/assets/{}\"", app.served_name)),
            "{page}"
        );
        let app_text = String::from_utf8(app.bytes.clone()).unwrap();
        assert_eq!(
            app_text,
            format!("import {{ a }} from \"./{}\";", dom.served_name)
        );
    }

    #[test]
    fn changing_a_module_renames_everything_that_reaches_it() {
        let before = Assets::build(sources(&[
            ("app.js", r#"import "./rooms.js";"#),
            ("rooms.js", r#"import "./dom.js";"#),
            ("dom.js", "export const a = 1;"),
            ("style.css", "body {}"),
        ]));
        let after = Assets::build(sources(&[
            ("app.js", r#"import "./rooms.js";"#),
            ("rooms.js", r#"import "./dom.js";"#),
            ("dom.js", "export const a = 2;"),
            ("style.css", "body {}"),
        ]));
        for stem in ["app", "rooms", "dom"] {
            assert_ne!(
                served(&before, stem).served_name,
                served(&after, stem).served_name
            );
        }
        assert_eq!(
            served(&before, "style").served_name,
            served(&after, "style").served_name
        );
    }

    #[test]
    fn a_cycle_of_imports_still_names_each_module() {
        let assets = Assets::build(sources(&[
            ("a.js", r#"import "./b.js";"#),
            ("b.js", r#"import "./a.js";"#),
        ]));
        assert_eq!(assets.by_served_name.len(), 2);
    }

    #[test]
    fn frames_come_only_from_add_in_origins() {
        assert_eq!(
            frame_origin("https://board.contoso.com:8443/x;y?q").as_deref(),
            Some("https://board.contoso.com:8443")
        );
        assert_eq!(frame_origin("javascript:alert(1)"), None);
        assert!(page_policy(&BTreeSet::new()).contains("frame-src 'none'"));
    }

    #[test]
    fn gzip_is_sent_only_where_accepted() {
        let mut headers = HeaderMap::new();
        assert!(!accepts_gzip(&headers));
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0.8"),
        );
        assert!(accepts_gzip(&headers));
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0"),
        );
        assert!(!accepts_gzip(&headers));
    }

    #[test]
    fn the_client_that_ships_has_a_page_and_its_modules() {
        let assets = assets();
        let page = String::from_utf8_lossy(&assets.page.bytes);
        assert!(page.contains("/assets/app."), "{page}");
        assert!(!page.contains("<script>"), "no inline script");
    }
}
