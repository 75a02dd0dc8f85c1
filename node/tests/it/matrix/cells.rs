//! The auth matrix, shared by the node's and the aggregator's tests: every operation of a served
//! OpenAPI document × every token variant, each answer compared with what the operation's
//! declared `security` says it must be (STANDARD.md §14).
//!
//! - no `security`: the operation is open and ignores tokens, so never 401/403;
//! - `bearer` with scopes: 401 for a missing, malformed, expired, not yet valid, foreign,
//!   mis-addressed, badly signed, unsigned or HMAC-signed token; 403 for a valid token without
//!   the scope, or a `data:write` token of another party; and for a valid token neither;
//! - another scheme only (OCPI's `Token`): no bearer token opens it, so 401 for every variant.
//!
//! Every bearer refusal must also be problem+json with its stable code — `unauthorized` (with
//! a `WWW-Authenticate` challenge), `forbidden`, or `party-mismatch` for another party's
//! writer on a write — and forged algorithms must be refused as such, by the allow-list.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// Allowed clock skew of the servers (STANDARD.md §14.2), in seconds.
const SKEW: u64 = 60;

/// An issuer the server trusts, with its private key: what the test mints tokens as.
pub struct Authority {
    pub iss: String,
    /// The `aud` the server expects.
    pub aud: String,
    /// Its Ed25519 private key as PKCS#8 DER.
    pub der: Vec<u8>,
    /// Its Ed25519 public key.
    pub public: [u8; 32],
    pub kid: Option<String>,
}

/// One cell's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    NoToken,
    Malformed,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    BadSignature,
    AlgNone,
    Hmac,
    WrongScope,
    WrongParty,
    Valid,
}

pub const VARIANTS: [Variant; 12] = [
    Variant::NoToken,
    Variant::Malformed,
    Variant::Expired,
    Variant::NotYetValid,
    Variant::WrongIssuer,
    Variant::WrongAudience,
    Variant::BadSignature,
    Variant::AlgNone,
    Variant::Hmac,
    Variant::WrongScope,
    Variant::WrongParty,
    Variant::Valid,
];

/// What an operation's `security` demands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    Open,
    /// A bearer token with these scopes.
    Bearer(Vec<String>),
    /// Only schemes other than `bearer`.
    Other(String),
}

/// One operation of the document.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: String,
    /// The path template, e.g. `/v1/locations/{country_code}/{party_id}/{location_id}`.
    pub template: String,
    pub security: Security,
    /// Its required query parameters.
    pub query: Vec<String>,
}

/// What a cell must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// Anything but 401 and 403.
    NotRefused,
    Exactly(u16),
    /// 401 because the algorithm is not on the allow-list (said in the problem's detail),
    /// not because something else about the forged token happened to fail.
    AlgorithmRefused,
}

/// How a test fills an operation in.
pub struct Fixture<'a> {
    /// The value of a path parameter, by name.
    pub param: &'a dyn Fn(&Operation, &str) -> String,
    /// The JSON body of a write, if it takes one.
    pub body: &'a dyn Fn(&Operation) -> Option<Vec<u8>>,
    /// The party valid `data:write` tokens carry (the fixtures' party).
    pub own_party: &'a str,
    /// Another party, whose tokens must not touch the fixtures' records.
    pub other_party: &'a str,
    /// Open reads that name a record hidden from the public (an unpublished Location): only
    /// `usage:read` or its own party's writer may see it, everyone else gets `404`.
    pub hidden: &'a dyn Fn(&Operation) -> bool,
}

/// The outcome: every cell checked, and the mismatches.
pub struct Report {
    pub cells: usize,
    pub operations: usize,
    pub mismatches: Vec<String>,
    /// Valid-token cells that answered neither 2xx nor 401/403, for information.
    pub valid_not_2xx: Vec<String>,
}

/// Every operation of `doc`, in the document's order.
pub fn operations(doc: &Value) -> Vec<Operation> {
    let mut ops = Vec::new();
    let global = doc.get("security");
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if !matches!(
                method.as_str(),
                "get" | "put" | "post" | "delete" | "patch" | "head" | "options"
            ) {
                continue;
            }
            let security = op.get("security").or(global);
            let query = op
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query" && p["required"] == true)
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect();
            ops.push(Operation {
                query,
                method: method.to_uppercase(),
                template: template.clone(),
                security: security_of(security),
            });
        }
    }
    // Removals last, so that every other operation finds the fixtures.
    ops.sort_by_key(|o| o.method == "DELETE");
    ops
}

/// One party's records, written before the matrix runs, that the standard operations name:
/// their path parameters and write bodies.
pub struct Records {
    pub location: Value,
    pub tariff: Value,
    pub session: Value,
}

impl Records {
    /// The fixtures of `spec/testdata/ocpi/valid/` (party GB*LPC).
    pub fn lpc() -> Records {
        let read = |name: &str| -> Value {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../spec/testdata/ocpi/valid")
                .join(name);
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
        };
        Records {
            location: read("location_westminster_lamppost.json"),
            tariff: read("tariff_lamppost_standard.json"),
            session: read("usage_record.json"),
        }
    }

    fn evse(&self) -> &Value {
        &self.location["evses"][0]
    }

    fn connector(&self) -> &Value {
        &self.evse()["connectors"][0]
    }

    /// The value of a standard path or query parameter naming these records.
    pub fn param(&self, name: &str) -> Option<String> {
        let s = |v: &Value| v.as_str().unwrap().to_owned();
        Some(match name {
            "country_code" => s(&self.location["country_code"]),
            "party_id" => s(&self.location["party_id"]),
            "location_id" => s(&self.location["id"]),
            "evse_uid" => s(&self.evse()["uid"]),
            "connector_id" => s(&self.connector()["id"]),
            "tariff_id" => s(&self.tariff["id"]),
            "session_id" => s(&self.session["id"]),
            // Log ranges and proofs.
            "start" | "index" => "0".into(),
            "end" | "tree_size" | "first" => "1".into(),
            "second" => "2".into(),
            _ => return None,
        })
    }

    /// The body of a standard write, `None` for an operation that is not one.
    pub fn body(&self, op: &Operation) -> Option<Option<Vec<u8>>> {
        let t = op.template.as_str();
        let depth = t.matches('/').count();
        let json = |v: &Value| Some(Some(serde_json::to_vec(v).unwrap()));
        let now = evfed_spec::time::DateTime::now().to_string();
        match (op.method.as_str(), t) {
            ("GET" | "DELETE" | "HEAD", _) => Some(None),
            ("PATCH", _) if t.starts_with("/v1/") => json(&json!({"last_updated": now})),
            ("PUT", _) if t.starts_with("/v1/tariffs/") => json(&self.tariff),
            ("PUT", _) if t.starts_with("/v1/locations/") && depth == 5 => json(&self.location),
            ("PUT", _) if t.starts_with("/v1/locations/") && depth == 6 => json(self.evse()),
            ("PUT", _) if t.starts_with("/v1/locations/") && depth == 7 => json(self.connector()),
            ("POST", "/v1/status") => json(&json!([{
                "country_code": self.location["country_code"],
                "party_id": self.location["party_id"],
                "location_id": self.location["id"],
                "evse_uid": self.evse()["uid"],
                "status": "AVAILABLE",
                "event_time": now,
            }])),
            ("POST", "/v1/sessions") => json(&json!([self.session])),
            ("POST", "/v1/admin/locations") => json(&json!([self.location])),
            _ => None,
        }
    }

    /// Writes the records with `token` (`data:write` for their party).
    pub fn write(&self, base_url: &str, token: &str) {
        evfed_node::embed::outgoing::install_crypto_provider();
        let http = reqwest::blocking::Client::new();
        let p = |n: &str| self.param(n).unwrap();
        for (method, path, body) in [
            (
                reqwest::Method::PUT,
                format!(
                    "/v1/locations/{}/{}/{}",
                    p("country_code"),
                    p("party_id"),
                    p("location_id")
                ),
                self.location.clone(),
            ),
            (
                reqwest::Method::PUT,
                format!(
                    "/v1/tariffs/{}/{}/{}",
                    p("country_code"),
                    p("party_id"),
                    p("tariff_id")
                ),
                self.tariff.clone(),
            ),
            (
                reqwest::Method::POST,
                "/v1/sessions".to_owned(),
                json!([self.session]),
            ),
        ] {
            let res = http
                .request(method, format!("{base_url}{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .unwrap();
            assert!(
                res.status().is_success(),
                "fixture {path}: {} {}",
                res.status(),
                res.text().unwrap_or_default()
            );
        }
    }
}

fn security_of(security: Option<&Value>) -> Security {
    let Some(reqs) = security.and_then(Value::as_array) else {
        return Security::Open;
    };
    // An empty requirement object makes the whole requirement optional.
    if reqs.is_empty()
        || reqs
            .iter()
            .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
    {
        return Security::Open;
    }
    for r in reqs {
        if let Some(scopes) = r.get("bearer").and_then(Value::as_array) {
            return Security::Bearer(
                scopes
                    .iter()
                    .map(|s| s.as_str().expect("scope").to_owned())
                    .collect(),
            );
        }
    }
    let names: Vec<&String> = reqs
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|o| o.keys())
        .collect();
    Security::Other(format!("{names:?}"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(a: &Authority, scopes: &[String], party: Option<&str>) -> Value {
    let now = now();
    let mut c = json!({
        "iss": a.iss, "sub": "matrix", "client_id": "matrix", "aud": a.aud,
        "exp": now + 600, "iat": now, "jti": jti(),
        "scope": scopes.join(" "),
    });
    if let Some(p) = party {
        c["party"] = json!(p);
    }
    c
}

fn jti() -> String {
    let mut b = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn sign_eddsa(der: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::EdDSA);
    h.typ = Some("at+jwt".into());
    h.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_ed_der(der)).unwrap()
}

/// The PKCS#8 v1 DER of an Ed25519 private key (RFC 8410).
fn pkcs8(seed: &[u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(seed);
    der
}

/// A valid token of `a` with `scopes` (and `party`).
pub fn valid_token(a: &Authority, scopes: &[&str], party: Option<&str>) -> String {
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    sign_eddsa(&a.der, a.kid.as_deref(), &claims(a, &scopes, party))
}

/// The token of `variant` for an operation needing `scopes`.
fn token(a: &Authority, variant: Variant, scopes: &[String], fx: &Fixture<'_>) -> Option<String> {
    let kid = a.kid.as_deref();
    let own_party = scopes
        .iter()
        .any(|s| s == "data:write")
        .then_some(fx.own_party);
    let valid = || claims(a, scopes, own_party);
    let now = now();
    Some(match variant {
        Variant::NoToken => return None,
        Variant::Malformed => "not.a.jwt".to_owned(),
        Variant::Expired => {
            let mut c = valid();
            c["iat"] = json!(now - 7200);
            c["exp"] = json!(now - 3600);
            sign_eddsa(&a.der, kid, &c)
        }
        Variant::NotYetValid => {
            let mut c = valid();
            c["iat"] = json!(now + 10 * SKEW);
            c["nbf"] = json!(now + 10 * SKEW);
            c["exp"] = json!(now + 3600);
            sign_eddsa(&a.der, kid, &c)
        }
        Variant::WrongIssuer => {
            let mut c = valid();
            c["iss"] = json!("https://issuer.elsewhere.example");
            sign_eddsa(&a.der, kid, &c)
        }
        Variant::WrongAudience => {
            let mut c = valid();
            c["aud"] = json!("evfed.elsewhere.example");
            sign_eddsa(&a.der, kid, &c)
        }
        Variant::BadSignature => {
            let mut other = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut other);
            sign_eddsa(&pkcs8(&other), kid, &valid())
        }
        Variant::AlgNone => {
            let mut h = json!({"alg": "none", "typ": "at+jwt"});
            if let Some(k) = kid {
                h["kid"] = json!(k);
            }
            format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(h.to_string()),
                URL_SAFE_NO_PAD.encode(valid().to_string())
            )
        }
        Variant::Hmac => {
            let mut h = Header::new(Algorithm::HS256);
            h.typ = Some("at+jwt".into());
            h.kid = kid.map(str::to_owned);
            jsonwebtoken::encode(&h, &valid(), &EncodingKey::from_secret(&a.public)).unwrap()
        }
        Variant::WrongScope => {
            let others: Vec<String> = ["usage:read", "data:write", "admin"]
                .iter()
                .filter(|s| !scopes.iter().any(|w| w == *s))
                .map(|s| (*s).to_owned())
                .collect();
            let party = others
                .iter()
                .any(|s| s == "data:write")
                .then_some(fx.own_party);
            sign_eddsa(&a.der, kid, &claims(a, &others, party))
        }
        Variant::WrongParty => sign_eddsa(
            &a.der,
            kid,
            &claims(a, &["data:write".to_owned()], Some(fx.other_party)),
        ),
        Variant::Valid => sign_eddsa(&a.der, kid, &valid()),
    })
}

fn expected(op: &Operation, variant: Variant, hidden: bool) -> Option<Expected> {
    Some(match (&op.security, variant) {
        // A writer must never read another party's hidden records; nor may anyone without
        // a valid token that allows it.
        (Security::Open, Variant::WrongScope | Variant::Valid) => Expected::NotRefused,
        (Security::Open, _) if hidden => Expected::Exactly(404),
        (Security::Open, _) => Expected::NotRefused,
        (Security::Other(_), _) => Expected::Exactly(401),
        (Security::Bearer(scopes), Variant::WrongScope | Variant::WrongParty)
            if scopes.is_empty() =>
        {
            return None;
        }
        (Security::Bearer(_), Variant::WrongScope | Variant::WrongParty) => Expected::Exactly(403),
        (Security::Bearer(_), Variant::Valid) => Expected::NotRefused,
        (Security::Bearer(_), Variant::AlgNone | Variant::Hmac) => Expected::AlgorithmRefused,
        (Security::Bearer(_), _) => Expected::Exactly(401),
    })
}

/// The request path of `op`, its parameters and required query parameters filled in.
fn path_of(op: &Operation, query: &[String], fx: &Fixture<'_>) -> String {
    let mut out = String::new();
    let mut rest = op.template.as_str();
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        let name = &rest[start + 1..end];
        out.push_str(&(fx.param)(op, name));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    for (i, name) in query.iter().enumerate() {
        let sep = if i == 0 { '?' } else { '&' };
        let _ = write!(out, "{sep}{name}={}", (fx.param)(op, name));
    }
    out
}

/// Runs every cell against the server at `base_url`, minting tokens as `authority`.
pub fn run(
    base_url: &str,
    doc: &Value,
    authority: &Authority,
    fx: &Fixture<'_>,
    timeout: Duration,
) -> Report {
    evfed_node::embed::outgoing::install_crypto_provider();
    let http = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let ops = operations(doc);
    let mut report = Report {
        cells: 0,
        operations: 0,
        mismatches: Vec::new(),
        valid_not_2xx: Vec::new(),
    };
    for op in &ops {
        report.operations += 1;
        let hidden = (fx.hidden)(op);
        let scopes = match &op.security {
            Security::Bearer(s) => s.clone(),
            _ => vec!["usage:read".to_owned()],
        };
        let path = path_of(op, &op.query, fx);
        let body = (fx.body)(op);
        for variant in VARIANTS {
            let Some(want) = expected(op, variant, hidden) else {
                continue;
            };
            let method = reqwest::Method::from_bytes(op.method.as_bytes()).unwrap();
            let mut req = http.request(method, format!("{base_url}{path}"));
            if let Some(t) = token(authority, variant, &scopes, fx) {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            if let Some(b) = &body {
                req = req
                    .header("content-type", "application/json")
                    .body(b.clone());
            }
            let res = req
                .send()
                .unwrap_or_else(|e| panic!("{} {path} ({variant:?}): no answer: {e}", op.method));
            let got = res.status().as_u16();
            let problem_json = res
                .headers()
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
            let challenge = res.headers().contains_key("www-authenticate");
            // An event stream never ends: its status and headers are the answer.
            let stream = res
                .headers()
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
            let text = if stream {
                String::new()
            } else {
                res.text().unwrap_or_default()
            };
            report.cells += 1;
            // A bearer refusal is problem+json with its stable code (STANDARD.md §13), and a
            // 401 challenges (RFC 6750 §3).
            let code = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["code"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let writes =
                matches!(&op.security, Security::Bearer(s) if s.iter().any(|s| s == "data:write"));
            let refusal_ok = !matches!(op.security, Security::Bearer(_))
                || match got {
                    401 => problem_json && challenge && code == "unauthorized",
                    403 if variant == Variant::WrongParty && writes => {
                        problem_json && code == "party-mismatch"
                    }
                    403 => problem_json && code == "forbidden",
                    _ => true,
                };
            let ok = refusal_ok
                && match want {
                    Expected::NotRefused => got != 401 && got != 403,
                    Expected::Exactly(s) => got == s,
                    Expected::AlgorithmRefused => {
                        got == 401 && text.contains("algorithm is not accepted")
                    }
                };
            let line = |w: &str| {
                let mut l = String::new();
                let _ = write!(
                    l,
                    "{:<7} {:<72} {:<14} {:<14} {got}  {}",
                    op.method,
                    op.template,
                    format!("{variant:?}"),
                    w,
                    text.chars()
                        .take(120)
                        .collect::<String>()
                        .replace('\n', " ")
                );
                l
            };
            let want_text = match want {
                Expected::NotRefused => "not 401/403".to_owned(),
                Expected::Exactly(401) => "401 unauthz".to_owned(),
                Expected::Exactly(403) if variant == Variant::WrongParty && writes => {
                    "403 party-mm".to_owned()
                }
                Expected::Exactly(403) => "403 forbidden".to_owned(),
                Expected::Exactly(s) => s.to_string(),
                Expected::AlgorithmRefused => "401 (alg)".to_owned(),
            };
            if !ok {
                report.mismatches.push(line(&want_text));
            } else if matches!(want, Expected::NotRefused)
                && variant == Variant::Valid
                && !(200..300).contains(&got)
            {
                report.valid_not_2xx.push(line(&want_text));
            }
        }
    }
    report
}

impl Report {
    /// Prints the counts (and the table of mismatches) and fails on any mismatch.
    pub fn assert_clean(&self, server: &str) {
        eprintln!(
            "{server} auth matrix: {} operations, {} cells checked, {} mismatches",
            self.operations,
            self.cells,
            self.mismatches.len()
        );
        if !self.valid_not_2xx.is_empty() {
            eprintln!(
                "{server}: valid tokens answered neither 2xx nor 401/403 (validation or state):"
            );
            for l in &self.valid_not_2xx {
                eprintln!("  {l}");
            }
        }
        assert!(
            self.mismatches.is_empty(),
            "{server} auth matrix: {} of {} cells differ from the documented security\n\
             {:<7} {:<72} {:<14} {:<14} got  body\n{}",
            self.mismatches.len(),
            self.cells,
            "method",
            "operation",
            "variant",
            "expected",
            self.mismatches.join("\n")
        );
    }
}
