//! A second, external issuer: a small OpenID Connect fixture on loopback (discovery document and
//! JWKS over real HTTP, RS256 keys) issuing Microsoft Entra ID–style client-credentials tokens —
//! header `typ: JWT`, v1 `iss` (`https://sts.windows.net/{tenant}/`), `appid`, application roles
//! in `roles` — which the node accepts through its `[[issuer]]` claim mapping.
//!
//! The RSA key under `issuers/` is a test key made for this fixture only.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::NodeDir;

const TENANT: &str = "4a1b2c3d-0000-4000-8000-000000000001";
const AUDIENCE: &str = "api://evfed-camden";

/// The fixture: its base URL and how often its JWKS was fetched.
struct Oidc {
    url: String,
    jwks_fetches: Arc<AtomicUsize>,
}

impl Oidc {
    fn start() -> Oidc {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let (base, fetches) = (url.clone(), jwks_fetches.clone());
        let jwk: Value = serde_json::from_str(include_str!("issuers/rs256.jwk.json")).unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut line = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                reader.read_line(&mut line).unwrap();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("");
                let body = if path == format!("/{TENANT}/v2.0/.well-known/openid-configuration") {
                    Some(json!({
                        "issuer": format!("https://login.microsoftonline.com/{TENANT}/v2.0"),
                        "jwks_uri": format!("{base}/{TENANT}/discovery/v2.0/keys"),
                        "token_endpoint": format!("{base}/{TENANT}/oauth2/v2.0/token"),
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }))
                } else if path == format!("/{TENANT}/discovery/v2.0/keys") {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    Some(json!({"keys": [jwk]}))
                } else {
                    None
                };
                let response = match body {
                    Some(b) => {
                        let b = b.to_string();
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                             content-length: {}\r\nconnection: close\r\n\r\n{b}",
                            b.len()
                        )
                    }
                    None => {
                        "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            .to_owned()
                    }
                };
                let _ = stream.write_all(response.as_bytes());
            }
        });
        Oidc { url, jwks_fetches }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An Entra ID v1 application token for `roles`.
fn entra_token(roles: &[&str], iss: &str, aud: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("JWT".into());
    header.kid = Some("entra-test-1".into());
    let claims = json!({
        "aud": aud, "iss": iss, "iat": now(), "nbf": now(), "exp": now() + 3600,
        "appid": "0d9e8f7a-1111-4222-8333-444455556666", "appidacr": "1",
        "oid": "9f8e7d6c-0000-4000-8000-000000000002",
        "sub": "9f8e7d6c-0000-4000-8000-000000000002",
        "tid": TENANT, "roles": roles, "ver": "1.0",
    });
    let key = EncodingKey::from_rsa_pem(include_bytes!("issuers/rs256.key.pem")).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

#[test]
fn entra_style_tokens_are_accepted_through_the_claim_mapping() {
    let oidc = Oidc::start();
    let node = NodeDir::camden();
    let config = node.path().join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        r#"
[[issuer]]
issuer = "https://login.microsoftonline.com/{TENANT}/v2.0"
also_iss = ["https://sts.windows.net/{TENANT}/"]
discovery = "{}/{TENANT}/v2.0/.well-known/openid-configuration"
audience = "{AUDIENCE}"
algorithms = ["RS256"]
scope_claim = "roles"
scope_map = {{ "Usage.Read" = "usage:read" }}
accept_jwt_typ = true
"#,
        oidc.url
    ));
    std::fs::write(&config, text).unwrap();
    let run = node.serve();
    let v1 = format!("https://sts.windows.net/{TENANT}/");

    let reader = entra_token(&["Usage.Read"], &v1, AUDIENCE);
    let res = run.get_auth("/v1/sessions", &reader);
    assert_eq!(res.status().as_u16(), 200, "{}", res.text().unwrap());
    // Cached: a second token needs no second fetch.
    let again = entra_token(&["Usage.Read", "Other.Role"], &v1, AUDIENCE);
    assert_eq!(run.get_auth("/v1/sessions", &again).status().as_u16(), 200);
    assert_eq!(oidc.jwks_fetches.load(Ordering::SeqCst), 1);

    // A role that maps to no scope the route needs: 403.
    let other = entra_token(&["Other.Role"], &v1, AUDIENCE);
    assert_eq!(run.get_auth("/v1/sessions", &other).status().as_u16(), 403);
    // Another audience, an unlisted iss, a tampered payload: 401.
    let foreign = entra_token(&["Usage.Read"], &v1, "api://someone-else");
    assert_eq!(
        run.get_auth("/v1/sessions", &foreign).status().as_u16(),
        401
    );
    let unlisted = entra_token(&["Usage.Read"], "https://sts.windows.net/other/", AUDIENCE);
    assert_eq!(
        run.get_auth("/v1/sessions", &unlisted).status().as_u16(),
        401
    );
    let mut parts: Vec<&str> = reader.split('.').collect();
    let forged = entra_token(&["Usage.Read", "Admin"], &v1, AUDIENCE);
    parts[1] = forged.split('.').nth(1).unwrap();
    assert_eq!(
        run.get_auth("/v1/sessions", &parts.join("."))
            .status()
            .as_u16(),
        401
    );
    // The node's own tokens still work beside it.
    let own = node.token(None, &["usage:read"]);
    assert_eq!(run.get_auth("/v1/sessions", &own).status().as_u16(), 200);
}
