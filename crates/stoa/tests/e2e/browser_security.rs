//! Issue 14, browser security, over raw HTTP and WebSockets: the browser's session lives in
//! an HttpOnly, SameSite=Strict cookie; changes made with it need the session's CSRF token
//! and an own `Origin`; WebSocket upgrades from other sites' pages are refused; the web
//! client's page carries a strict Content-Security-Policy whose frames are the add-ins'
//! origins only; its assets are content-hashed and cached for good. Bearer tokens work as
//! before.

use reqwest::header::{self, HeaderMap, HeaderValue};
use serde_json::{Value, json};
use stoa_wire::CreateRoomRequest;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::{TestServer, USER_PASSWORD};

/// A raw HTTP client that sends no cookies of its own and follows no redirects.
fn raw() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// What a browser on the server's own page sends with every request.
fn own_origin(server: &TestServer) -> HeaderValue {
    HeaderValue::from_str(&server.url).unwrap()
}

struct BrowserSession {
    cookie: String,
    csrf: String,
    set_cookie: String,
}

async fn browser_sign_in(
    server: &TestServer,
    login: &str,
    origin: Option<&str>,
) -> reqwest::Response {
    let mut request = raw()
        .post(format!("{}/api/v1/browser-session", server.url))
        .json(&json!({"user": login, "password": USER_PASSWORD}));
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    request.send().await.unwrap()
}

/// What `GET /api/v1/browser-session` answers a browser holding `cookie`.
async fn browser_session(server: &TestServer, cookie: Option<&str>) -> Value {
    let mut request = raw().get(format!("{}/api/v1/browser-session", server.url));
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn signed_in_browser(server: &TestServer, login: &str) -> BrowserSession {
    let response = browser_sign_in(server, login, Some(&server.url)).await;
    assert_eq!(response.status(), 201);
    let set_cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["signed_in"], true);
    assert_eq!(body["user"]["login"], login);
    assert!(
        body.get("token").is_none(),
        "no script sees the session token: {body}"
    );
    BrowserSession {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        set_cookie,
    }
}

/// Follows the open room Lobby with the browser's cookie and the given headers.
async fn follow_lobby(
    server: &TestServer,
    browser: &BrowserSession,
    headers: HeaderMap,
) -> reqwest::Response {
    raw()
        .put(format!("{}/api/v1/me/follows/Lobby", server.url))
        .header(header::COOKIE, &browser.cookie)
        .headers(headers)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_browser_session_is_an_http_only_strict_cookie_that_scripts_never_see() {
    let server = TestServer::start().await;
    server.user("alice@contoso.com").await;
    let browser = signed_in_browser(&server, "alice@contoso.com").await;
    let attributes: Vec<String> = browser
        .set_cookie
        .split(';')
        .map(|part| part.trim().to_ascii_lowercase())
        .collect();
    assert!(
        attributes[0].starts_with("stoa_session=stoa_"),
        "{attributes:?}"
    );
    for expected in ["httponly", "samesite=strict", "path=/"] {
        assert!(
            attributes.iter().any(|a| a == expected),
            "{expected} in {attributes:?}"
        );
    }
    assert!(
        !attributes.iter().any(|a| a == "secure"),
        "plain HTTP: a Secure cookie would never come back"
    );

    // Reached over TLS (a proxy in front), the cookie is Secure.
    let over_tls = raw()
        .post(format!("{}/api/v1/browser-session", server.url))
        .header(header::ORIGIN, "https://chat.contoso.com")
        .header(header::HOST, "chat.contoso.com")
        .json(&json!({"user": "alice@contoso.com", "password": USER_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(over_tls.status(), 201);
    let set_cookie = over_tls.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set_cookie.to_ascii_lowercase().contains("; secure"),
        "{set_cookie}"
    );

    // The cookie is a session: it reads, and the page learns who is signed in.
    let session = browser_session(&server, Some(&browser.cookie)).await;
    assert_eq!(session["signed_in"], true);
    assert_eq!(session["csrf_token"], browser.csrf.as_str());
    let me = raw()
        .get(format!("{}/api/v1/me", server.url))
        .header(header::COOKIE, &browser.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    // Without a cookie the page is told, with a 200 (no console error on the sign-in page).
    let nobody = browser_session(&server, None).await;
    assert_eq!(nobody, json!({"signed_in": false}));

    // Signing out ends the session and clears the cookie.
    let mut headers = HeaderMap::new();
    headers.insert(header::ORIGIN, own_origin(&server));
    headers.insert(
        "x-csrf-token",
        HeaderValue::from_str(&browser.csrf).unwrap(),
    );
    let signed_out = raw()
        .delete(format!("{}/api/v1/sessions/current", server.url))
        .header(header::COOKIE, &browser.cookie)
        .headers(headers)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 204);
    let cleared = signed_out.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cleared.starts_with("stoa_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let after = browser_session(&server, Some(&browser.cookie)).await;
    assert_eq!(after["signed_in"], false);
}

#[tokio::test]
async fn changes_made_with_the_cookie_need_the_csrf_token_and_an_own_origin() {
    let server = TestServer::start().await;
    let alice = server.user("alice@contoso.com").await;
    server
        .admin
        .create_room(&CreateRoomRequest {
            name: "Lobby".to_owned(),
            privacy: Some(stoa_wire::Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    let browser = signed_in_browser(&server, "alice@contoso.com").await;

    let refusals = [
        ("no token", HeaderMap::new()),
        ("a wrong token", {
            let mut headers = HeaderMap::new();
            headers.insert("x-csrf-token", HeaderValue::from_static("guessed"));
            headers
        }),
        ("another site's page", {
            let mut headers = HeaderMap::new();
            headers.insert(
                "x-csrf-token",
                HeaderValue::from_str(&browser.csrf).unwrap(),
            );
            headers.insert(
                header::ORIGIN,
                HeaderValue::from_static("http://evil.example"),
            );
            headers
        }),
    ];
    for (case, headers) in refusals {
        let response = follow_lobby(&server, &browser, headers).await;
        assert_eq!(response.status(), 403, "{case}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "cross_site", "{case}: {body}");
    }
    // Nothing was changed.
    assert!(alice.followed_rooms().await.unwrap().is_empty());

    // An upload (a raw body any form could send) is refused the same way.
    let upload = raw()
        .post(format!(
            "{}/api/v1/rooms/Anything/files?name=a.txt",
            server.url
        ))
        .header(header::COOKIE, &browser.cookie)
        .header(header::CONTENT_TYPE, "text/plain")
        .body("forged")
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 403);

    // With the token, from the own page, the change is made.
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-csrf-token",
        HeaderValue::from_str(&browser.csrf).unwrap(),
    );
    headers.insert(header::ORIGIN, own_origin(&server));
    let made = follow_lobby(&server, &browser, headers).await;
    assert!(made.status().is_success(), "{}", made.status());
    assert_eq!(alice.followed_rooms().await.unwrap().len(), 1);

    // Reads need no token, and bearer tokens need none either.
    let reads = raw()
        .get(format!("{}/api/v1/rooms", server.url))
        .header(header::COOKIE, &browser.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(reads.status(), 200);
    alice.unfollow("Lobby").await.unwrap();

    // Another site's page cannot sign a visitor in either.
    let forged_sign_in =
        browser_sign_in(&server, "alice@contoso.com", Some("http://evil.example")).await;
    assert_eq!(forged_sign_in.status(), 403);
    assert!(forged_sign_in.headers().get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn live_connections_take_the_cookie_and_refuse_other_sites_pages() {
    let server = TestServer::start().await;
    server.user("alice@contoso.com").await;
    let browser = signed_in_browser(&server, "alice@contoso.com").await;
    let ws_url = format!("{}/api/v1/ws", server.url.replacen("http", "ws", 1));

    let mut foreign = ws_url.as_str().into_client_request().unwrap();
    foreign.headers_mut().insert(
        header::COOKIE,
        HeaderValue::from_str(&browser.cookie).unwrap(),
    );
    foreign.headers_mut().insert(
        header::ORIGIN,
        HeaderValue::from_static("http://evil.example"),
    );
    match tokio_tungstenite::connect_async(foreign).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
        }
        other => panic!("an upgrade from another site's page must be refused: {other:?}"),
    }

    let mut own = ws_url.as_str().into_client_request().unwrap();
    own.headers_mut().insert(
        header::COOKIE,
        HeaderValue::from_str(&browser.cookie).unwrap(),
    );
    own.headers_mut()
        .insert(header::ORIGIN, own_origin(&server));
    let (mut socket, _) = tokio_tungstenite::connect_async(own).await.unwrap();
    use futures_util::StreamExt;
    let ready = socket.next().await.unwrap().unwrap().into_text().unwrap();
    let ready: Value = serde_json::from_str(&ready).unwrap();
    assert_eq!(ready, json!({"type": "ready", "user": "alice@contoso.com"}));
}

#[tokio::test]
async fn the_page_has_a_strict_policy_with_frames_only_from_add_ins() {
    let server = TestServer::start().await;
    server.user("alice@contoso.com").await;
    server
        .admin
        .create_addin("Board", "https://board.contoso.com:8443/rooms?x=1")
        .await
        .unwrap();
    let page = raw().get(format!("{}/", server.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "frame-src 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script");

    // A signed-in browser's page may frame the add-ins' origins, and nothing else.
    let browser = signed_in_browser(&server, "alice@contoso.com").await;
    let signed_in = raw()
        .get(format!("{}/", server.url))
        .header(header::COOKIE, &browser.cookie)
        .send()
        .await
        .unwrap();
    let policy = signed_in.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("frame-src https://board.contoso.com:8443;"),
        "{policy}"
    );

    // Every asset the page names is served under a hashed name, compressed, for a year.
    let assets: Vec<&str> = html
        .split('"')
        .filter(|part| part.starts_with("/assets/"))
        .collect();
    assert!(assets.len() >= 3, "{html}");
    for asset in assets {
        let response = raw()
            .get(format!("{}{asset}", server.url))
            .header(header::ACCEPT_ENCODING, "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        let headers = response.headers();
        assert_eq!(
            headers[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable",
            "{asset}"
        );
        assert_eq!(headers[header::CONTENT_ENCODING], "gzip", "{asset}");
        let etag = headers[header::ETAG].clone();
        let again = raw()
            .get(format!("{}{asset}", server.url))
            .header(header::IF_NONE_MATCH, etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{asset}");
    }
    let unknown = raw()
        .get(format!("{}/assets/app.0000000000.js", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}
