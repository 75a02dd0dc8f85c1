//! External issuers, end to end: a second process on loopback plays two identity providers that
//! boroughs run — a Microsoft Entra ID tenant and a Keycloak realm — each with its discovery
//! document, its JWKS and its client-credentials token endpoint, over real HTTP with RS256 keys.
//! A real node trusts both through `[[issuer]]` tables and their claim mappings, and clients get
//! their tokens from the provider's token endpoint as they would in production.
//!
//! - Entra ID client-credentials tokens: header `typ: JWT`, the v1 `iss`
//!   (`https://sts.windows.net/{tenant}/`, not the v2 discovery issuer), `appid`, application
//!   roles in `roles`, no `party`. The tenant can rotate its signing key.
//! - Keycloak service-account tokens: header `typ: JWT`, `azp`, space-separated `scope`, `aud`
//!   an array, and `party` from a hard-coded claim mapper.
//!
//! The fixture process is this test binary started again with [`FIXTURE_ENV`] naming its ready
//! file, which makes the otherwise ignored [`oidc_fixture_process`] serve until its standard
//! input closes. The RSA keys under `issuers/` are test keys made for this fixture only.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::NodeDir;

/// Set in the fixture process: the path of its ready file.
const FIXTURE_ENV: &str = "EVFED_TEST_OIDC_FIXTURE";

const TENANT: &str = "4a1b2c3d-0000-4000-8000-000000000001";
const ENTRA_ISSUER: &str =
    "https://login.microsoftonline.com/4a1b2c3d-0000-4000-8000-000000000001/v2.0";
const ENTRA_V1_ISS: &str = "https://sts.windows.net/4a1b2c3d-0000-4000-8000-000000000001/";
const ENTRA_AUDIENCE: &str = "api://evfed-camden";
const KEYCLOAK_ISSUER: &str = "https://keycloak.london.example/realms/london";

const KEY_1: &[u8] = include_bytes!("issuers/rs256.key.pem");
const KEY_2: &[u8] = include_bytes!("issuers/rs256-next.key.pem");
const JWK_1: &str = include_str!("issuers/rs256.jwk.json");
const JWK_2: &str = include_str!("issuers/rs256-next.jwk.json");

/// The registered clients: (realm, client id, secret, what they are granted, party).
const CLIENTS: [(&str, &str, &str, &str, Option<&str>); 4] = [
    ("entra", "planner-app", "planner-secret", "Usage.Read", None),
    ("entra", "other-app", "other-secret", "Other.Role", None),
    (
        "keycloak",
        "lpc-writer",
        "lpc-secret",
        "data:write",
        Some("GB*LPC"),
    ),
    ("keycloak", "planner", "planner-secret", "usage:read", None),
];

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The fixture process, seen from a test.
struct Oidc {
    child: Child,
    url: String,
    http: reqwest::blocking::Client,
    _dir: tempfile::TempDir,
}

impl Oidc {
    fn start() -> Oidc {
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("oidc.json");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "issuers::oidc_fixture_process",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(FIXTURE_ENV, &ready)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = loop {
            if let Ok(text) = std::fs::read_to_string(&ready)
                && let Ok(v) = serde_json::from_str::<Value>(&text)
            {
                break v["url"].as_str().unwrap().to_owned();
            }
            assert!(child.try_wait().unwrap().is_none(), "the fixture exited");
            assert!(Instant::now() < deadline, "the fixture is not ready");
            std::thread::sleep(Duration::from_millis(20));
        };
        evfed_node::embed::outgoing::install_crypto_provider();
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Oidc {
            child,
            url,
            http,
            _dir: dir,
        }
    }

    /// An access token by client credentials, as the provider's clients get one.
    fn token(&self, realm: &str, client: &str, secret: &str) -> String {
        let (path, form) = match realm {
            "entra" => (
                format!("/{TENANT}/oauth2/v2.0/token"),
                format!("grant_type=client_credentials&scope={ENTRA_AUDIENCE}/.default"),
            ),
            _ => (
                "/realms/london/protocol/openid-connect/token".to_owned(),
                "grant_type=client_credentials".to_owned(),
            ),
        };
        let res = self
            .http
            .post(format!("{}{path}", self.url))
            .basic_auth(client, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .unwrap();
        assert_eq!(res.status(), 200, "token for {client}");
        let answer: Value = res.json().unwrap();
        assert_eq!(answer["token_type"], "Bearer");
        answer["access_token"].as_str().unwrap().to_owned()
    }

    /// How often each realm's JWKS was fetched.
    fn jwks_fetches(&self, realm: &str) -> u64 {
        let stats: Value = self
            .http
            .get(format!("{}/_fixture/stats", self.url))
            .send()
            .unwrap()
            .json()
            .unwrap();
        stats[realm].as_u64().unwrap()
    }

    /// The Entra tenant signs with its next key from now on, and publishes both.
    fn rotate_entra_key(&self) {
        let res = self
            .http
            .post(format!("{}/_fixture/rotate", self.url))
            .send()
            .unwrap();
        assert_eq!(res.status(), 204);
    }
}

impl Drop for Oidc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fixture process itself; returns at once unless started by [`Oidc::start`].
#[test]
#[ignore = "the OpenID Connect fixture process, started by the tests of this module"]
fn oidc_fixture_process() {
    let Some(ready) = std::env::var_os(FIXTURE_ENV).map(PathBuf::from) else {
        return;
    };
    // Gone with the test that started it, even if that one is killed.
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(Mutex::new(Provider {
        base: base.clone(),
        rotated: false,
        fetches: BTreeMap::new(),
    }));
    let tmp = ready.with_extension("tmp");
    std::fs::write(&tmp, json!({ "url": base }).to_string()).unwrap();
    std::fs::rename(&tmp, &ready).unwrap();
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let state = state.clone();
        std::thread::spawn(move || {
            let _ = serve_one(stream, &state);
        });
    }
}

/// What the fixture remembers between requests.
struct Provider {
    base: String,
    /// Whether the Entra tenant has moved to its next key.
    rotated: bool,
    /// JWKS fetches per realm.
    fetches: BTreeMap<&'static str, u64>,
}

/// One request, one response, then the connection closes.
fn serve_one(mut stream: TcpStream, state: &Mutex<Provider>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: u64 = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = Vec::new();
    reader.take(length.min(64 * 1024)).read_to_end(&mut body)?;
    let mut words = request_line.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, body) = route(state, method, path, &headers, &body);
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncache-control: no-store\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        text.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(text.as_bytes())
}

fn route(
    state: &Mutex<Provider>,
    method: &str,
    path: &str,
    headers: &BTreeMap<String, String>,
    body: &[u8],
) -> (&'static str, Option<Value>) {
    let mut s = state.lock().unwrap();
    let base = s.base.clone();
    let entra = format!("/{TENANT}");
    let keycloak = "/realms/london";
    match (
        method,
        path.strip_prefix(&entra),
        path.strip_prefix(keycloak),
    ) {
        ("GET", Some("/v2.0/.well-known/openid-configuration"), _) => (
            "200 OK",
            Some(json!({
                "issuer": ENTRA_ISSUER,
                "jwks_uri": format!("{base}{entra}/discovery/v2.0/keys"),
                "token_endpoint": format!("{base}{entra}/oauth2/v2.0/token"),
                "token_endpoint_auth_methods_supported":
                    ["client_secret_post", "private_key_jwt", "client_secret_basic"],
                "id_token_signing_alg_values_supported": ["RS256"],
            })),
        ),
        ("GET", Some("/discovery/v2.0/keys"), _) => {
            *s.fetches.entry("entra").or_default() += 1;
            let mut keys = vec![jwk(JWK_1, "entra-test-1")];
            if s.rotated {
                keys.push(jwk(JWK_2, "entra-test-2"));
            }
            ("200 OK", Some(json!({ "keys": keys })))
        }
        ("GET", _, Some("/.well-known/openid-configuration")) => (
            "200 OK",
            Some(json!({
                "issuer": KEYCLOAK_ISSUER,
                "jwks_uri": format!("{base}{keycloak}/protocol/openid-connect/certs"),
                "token_endpoint": format!("{base}{keycloak}/protocol/openid-connect/token"),
                "grant_types_supported": ["client_credentials"],
                "id_token_signing_alg_values_supported": ["RS256"],
            })),
        ),
        ("GET", _, Some("/protocol/openid-connect/certs")) => {
            *s.fetches.entry("keycloak").or_default() += 1;
            (
                "200 OK",
                Some(json!({ "keys": [jwk(JWK_2, "keycloak-rs256")] })),
            )
        }
        ("POST", Some("/oauth2/v2.0/token"), _) => token_endpoint("entra", headers, body, &s),
        ("POST", _, Some("/protocol/openid-connect/token")) => {
            token_endpoint("keycloak", headers, body, &s)
        }
        ("POST", _, _) if path == "/_fixture/rotate" => {
            s.rotated = true;
            ("204 No Content", None)
        }
        ("GET", _, _) if path == "/_fixture/stats" => ("200 OK", Some(json!(s.fetches))),
        _ => ("404 Not Found", None),
    }
}

/// A client-credentials grant with `client_secret_basic`; errors as RFC 6749 §5.2.
fn token_endpoint(
    realm: &str,
    headers: &BTreeMap<String, String>,
    body: &[u8],
    s: &Provider,
) -> (&'static str, Option<Value>) {
    let error = |status, code: &str| (status, Some(json!({ "error": code })));
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return error("400 Bad Request", "unsupported_grant_type");
    }
    let credentials = headers
        .get("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let Some((client, secret)) = credentials.as_deref().and_then(|c| c.split_once(':')) else {
        return error("401 Unauthorized", "invalid_client");
    };
    let Some(&(_, id, _, granted, party)) = CLIENTS
        .iter()
        .find(|(r, id, sec, _, _)| *r == realm && *id == client && *sec == secret)
    else {
        return error("401 Unauthorized", "invalid_client");
    };
    let token = if realm == "entra" {
        if form.get("scope").map(String::as_str) != Some(&format!("{ENTRA_AUDIENCE}/.default")) {
            return error("400 Bad Request", "invalid_scope");
        }
        let (key, kid) = if s.rotated {
            (KEY_2, "entra-test-2")
        } else {
            (KEY_1, "entra-test-1")
        };
        entra_token(&[granted], ENTRA_V1_ISS, ENTRA_AUDIENCE, id, key, kid)
    } else {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".into());
        header.kid = Some("keycloak-rs256".into());
        let t = now();
        let mut claims = json!({
            "exp": t + 300, "iat": t, "jti": format!("kc-{t}-{id}"),
            "iss": KEYCLOAK_ISSUER, "aud": ["evfed.ops.example", "account"],
            "sub": format!("service-account-{id}"), "typ": "Bearer", "azp": id,
            "scope": format!("profile email {granted}"),
            "clientId": id, "preferred_username": format!("service-account-{id}"),
        });
        if let Some(p) = party {
            claims["party"] = json!(p);
        }
        let key = EncodingKey::from_rsa_pem(KEY_2).unwrap();
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    };
    (
        "200 OK",
        Some(json!({ "access_token": token, "token_type": "Bearer", "expires_in": 300 })),
    )
}

fn jwk(text: &str, kid: &str) -> Value {
    let mut jwk: Value = serde_json::from_str(text).unwrap();
    jwk["kid"] = json!(kid);
    jwk
}

/// An Entra ID v1 application token carrying application `roles`.
fn entra_token(roles: &[&str], iss: &str, aud: &str, appid: &str, key: &[u8], kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("JWT".into());
    header.kid = Some(kid.into());
    let claims = json!({
        "aud": aud, "iss": iss, "iat": now(), "nbf": now(), "exp": now() + 3600,
        "appid": appid, "appidacr": "1",
        "oid": "9f8e7d6c-0000-4000-8000-000000000002",
        "sub": "9f8e7d6c-0000-4000-8000-000000000002",
        "tid": TENANT, "roles": roles, "ver": "1.0",
    });
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(key).unwrap()).unwrap()
}

/// Appends `[[issuer]]` tables to a node's `config.toml`.
fn trust(node: &NodeDir, tables: &str) {
    let config = node.path().join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(tables);
    std::fs::write(&config, text).unwrap();
}

#[test]
fn entra_id_tokens_are_accepted_through_the_claim_mapping() {
    let oidc = Oidc::start();
    let node = NodeDir::camden();
    trust(
        &node,
        &format!(
            r#"
[[issuer]]
issuer = "{ENTRA_ISSUER}"
also_iss = ["{ENTRA_V1_ISS}"]
discovery = "{}/{TENANT}/v2.0/.well-known/openid-configuration"
audience = "{ENTRA_AUDIENCE}"
algorithms = ["RS256"]
scope_claim = "roles"
scope_map = {{ "Usage.Read" = "usage:read" }}
accept_jwt_typ = true
jwks_refresh = "1s"
"#,
            oidc.url
        ),
    );
    let run = node.serve();
    let sessions = |token: &str| run.get_auth("/v1/sessions", token).status().as_u16();

    let reader = oidc.token("entra", "planner-app", "planner-secret");
    assert_eq!(sessions(&reader), 200);
    // Cached: a second token needs no second fetch.
    let again = oidc.token("entra", "planner-app", "planner-secret");
    assert_eq!(sessions(&again), 200);
    assert_eq!(oidc.jwks_fetches("entra"), 1);

    // A role that maps to no scope the route needs: 403.
    let other = oidc.token("entra", "other-app", "other-secret");
    assert_eq!(sessions(&other), 403);

    // Signed with the tenant's key, but for another audience, from an unlisted `iss`, or with
    // a payload swapped in: 401.
    let app = "0d9e8f7a-1111-4222-8333-444455556666";
    let forge = |iss: &str, aud: &str, roles: &[&str]| {
        entra_token(roles, iss, aud, app, KEY_1, "entra-test-1")
    };
    assert_eq!(
        sessions(&forge(ENTRA_V1_ISS, "api://someone-else", &["Usage.Read"])),
        401
    );
    assert_eq!(
        sessions(&forge(
            "https://sts.windows.net/other/",
            ENTRA_AUDIENCE,
            &["Usage.Read"]
        )),
        401
    );
    let mut parts: Vec<&str> = other.split('.').collect();
    let swapped = forge(ENTRA_V1_ISS, ENTRA_AUDIENCE, &["Usage.Read"]);
    parts[1] = swapped.split('.').nth(1).unwrap();
    assert_eq!(sessions(&parts.join(".")), 401);

    // The tenant rotates its key: a token naming the new `kid` makes the node fetch the JWKS
    // again (no sooner than `jwks_refresh` after the last fetch), and is then accepted.
    std::thread::sleep(Duration::from_millis(1100));
    oidc.rotate_entra_key();
    let rotated = oidc.token("entra", "planner-app", "planner-secret");
    let kid = jsonwebtoken::decode_header(&rotated).unwrap().kid;
    assert_eq!(kid.as_deref(), Some("entra-test-2"));
    assert_eq!(sessions(&rotated), 200);
    assert_eq!(oidc.jwks_fetches("entra"), 2);
    // Tokens of the old key stay valid while the tenant still publishes it.
    assert_eq!(sessions(&reader), 200);
    // A `kid` the tenant never published: refused, and the bursts of such tokens fetch at
    // most once per `jwks_refresh`.
    let unknown = entra_token(
        &["Usage.Read"],
        ENTRA_V1_ISS,
        ENTRA_AUDIENCE,
        app,
        KEY_2,
        "nope",
    );
    for _ in 0..5 {
        assert_eq!(sessions(&unknown), 401);
    }
    assert!(oidc.jwks_fetches("entra") <= 3);

    // The node's own tokens still work beside it.
    let own = node.token(None, &["usage:read"]);
    assert_eq!(sessions(&own), 200);
}

#[test]
fn keycloak_writers_write_only_their_own_party() {
    let oidc = Oidc::start();
    let node = NodeDir::init("evfed.ops.example", &["--kind", "cpo"]);
    trust(
        &node,
        &format!(
            r#"
[[issuer]]
issuer = "{KEYCLOAK_ISSUER}"
discovery = "{}/realms/london/.well-known/openid-configuration"
algorithms = ["RS256"]
scope_claim = "scope"
accept_jwt_typ = true
"#,
            oidc.url
        ),
    );
    let run = node.serve();
    let fixture = |name: &str| {
        std::fs::read(crate::support::testdata(&format!("ocpi/valid/{name}"))).unwrap()
    };
    let writer = oidc.token("keycloak", "lpc-writer", "lpc-secret");
    let planner = oidc.token("keycloak", "planner", "planner-secret");

    // Its own party's Location: written.
    let own = "/v1/locations/GB/LPC/LPC-WCC-00417";
    let lamppost = fixture("location_westminster_lamppost.json");
    let res = run.send(Method::PUT, own, Some(&writer), &lamppost);
    assert_eq!(res.status(), 201, "{}", res.text().unwrap());
    // Another party's: refused, and nothing is written.
    let size = run.tree_size();
    let other = "/v1/locations/GB/RHX/RHX-PARKROYAL";
    let hub = fixture("location_park_royal_rapid_hub.json");
    let res = run.send(Method::PUT, other, Some(&writer), &hub);
    assert_eq!(res.status(), 403);
    let problem: Value = res.json().unwrap();
    assert_eq!(problem["code"], "party-mismatch", "{problem}");
    assert_eq!(run.get(other).status(), 404);
    assert_eq!(run.tree_size(), size);

    // `usage:read` reads sessions but writes nothing; the writer reads no usage.
    assert_eq!(run.get_auth("/v1/sessions", &planner).status(), 200);
    assert_eq!(
        run.send(Method::PUT, own, Some(&planner), &lamppost)
            .status(),
        403
    );
    assert_eq!(run.get_auth("/v1/sessions", &writer).status(), 403);
    // A bad client secret gets no token at all.
    let res = oidc
        .http
        .post(format!(
            "{}/realms/london/protocol/openid-connect/token",
            oidc.url
        ))
        .basic_auth("lpc-writer", Some("guess"))
        .body("grant_type=client_credentials")
        .send()
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(oidc.jwks_fetches("keycloak"), 1);
}

/// The `[[issuer]]` examples of `docs/access.md` (the aggregator, Entra ID, Keycloak) are
/// tables a node accepts.
#[test]
fn the_documented_issuer_tables_parse() {
    #[derive(serde::Deserialize)]
    struct Tables {
        issuer: Vec<evfed_node::embed::tokens::IssuerConfig>,
    }
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/access.md"),
    )
    .unwrap();
    let blocks: Vec<&str> = doc
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split_once("```").map(|(toml, _)| toml))
        .filter(|b| b.contains("[[issuer]]"))
        .collect();
    let mut issuers = Vec::new();
    for block in &blocks {
        let tables: Tables =
            toml::from_str(block).unwrap_or_else(|e| panic!("{e}\nin docs/access.md:\n{block}"));
        for t in tables.issuer {
            t.check().unwrap();
            issuers.push(t.issuer);
        }
    }
    for wanted in ["evfed.london.example", "microsoftonline.com", "/realms/"] {
        assert!(
            issuers.iter().any(|i| i.contains(wanted)),
            "docs/access.md has no {wanted} example: {issuers:?}"
        );
    }
}
