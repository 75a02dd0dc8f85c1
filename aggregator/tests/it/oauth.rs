//! The aggregator as an OAuth 2.0 authorization server: a registered client gets an access
//! token by client credentials (`client_secret_basic` and `private_key_jwt`) for a node's
//! origin, and a real node that trusts the aggregator's issuer (`[[issuer]]`) serves it usage
//! data; every malformed, foreign, expired or forged token is refused.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use evfed_spec::note::SigningKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::{AGGREGATOR, Node, Server, aggregator, node_bin, run};

const ISSUER: &str = "https://evfed.london.example";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// `POST /oauth2/token`; the status and the JSON answer.
fn token_request(
    agg: &Server,
    basic: Option<(&str, &str)>,
    pairs: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = reqwest::blocking::Client::new()
        .post(format!("{}/oauth2/token", agg.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs));
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let res = req.send().unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, res.json().unwrap(), headers)
}

fn access_token(answer: &(u16, Value, reqwest::header::HeaderMap)) -> String {
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(answer.2["cache-control"], "no-store");
    assert_eq!(answer.1["token_type"], "Bearer");
    answer.1["access_token"].as_str().unwrap().to_owned()
}

fn sessions(node: &Server, token: &str) -> u16 {
    reqwest::blocking::Client::new()
        .get(format!("{}/v1/sessions", node.url))
        .bearer_auth(token)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn client_secret(stdout: &str) -> String {
    stdout.lines().last().unwrap().trim().to_owned()
}

fn assertion(key: &SigningKey, client: &str, aud: &str, jti: &str) -> String {
    let claims = json!({"iss": client, "sub": client, "aud": aud, "jti": jti,
                        "iat": now(), "exp": now() + 60});
    jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        &claims,
        &EncodingKey::from_ed_der(&key.to_pkcs8_der().unwrap()),
    )
    .unwrap()
}

/// A token signed with the aggregator's own key file, with claims of our choosing.
fn forged(agg_dir: &Path, claims: &Value) -> String {
    let text = std::fs::read_to_string(agg_dir.join("oauth.key")).unwrap();
    let key: SigningKey = text.trim_end().parse().unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = Some(format!("{:08x}", key.verifier().id()));
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_ed_der(&key.to_pkcs8_der().unwrap()),
    )
    .unwrap()
}

fn clients_add(agg_dir: &Path, args: &[&str]) -> String {
    let dir = agg_dir.to_str().unwrap();
    run(
        Path::new(AGGREGATOR),
        &[&["clients", "add", "--dir", dir], args].concat(),
    )
}

/// A node (not started) that trusts `agg`'s authorization server, fetching its JWKS for an
/// unknown `kid` at most once a second.
fn node_trusting(root: &Path, agg: &Server) -> Node {
    let node = Node::init(root, "volt");
    let config = node.dir.join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[[issuer]]\nissuer = \"{ISSUER}\"\njwks_uri = \"{}/oauth2/jwks\"\njwks_refresh = \"1s\"\n",
        agg.url
    ));
    std::fs::write(&config, text).unwrap();
    node
}

#[test]
fn client_credentials_tokens_open_a_trusting_nodes_usage_data() {
    evfed_aggregator::outgoing::install_crypto_provider();
    let root = tempfile::tempdir().unwrap();
    let agg_dir = aggregator(root.path());
    let agg = Server::start(Path::new(AGGREGATOR), &agg_dir);
    let node = node_trusting(root.path(), &agg);
    let node_server = Server::start(&node_bin(), &node.dir);

    let meta = agg.json("/.well-known/oauth-authorization-server");
    assert_eq!(meta["issuer"], ISSUER);
    assert_eq!(meta["token_endpoint"], format!("{ISSUER}/oauth2/token"));
    let jwks = agg.json("/oauth2/jwks");
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");

    // client_secret_basic, registered by the CLI for two nodes.
    let out = clients_add(
        &agg_dir,
        &[
            "--id",
            "analytics",
            "--scope",
            "usage:read",
            "--audience",
            &node.origin,
            "--audience",
            "evfed.other.example",
            "--secret",
        ],
    );
    let secret = client_secret(&out);
    let listed = run(
        Path::new(AGGREGATOR),
        &["clients", "list", "--dir", agg_dir.to_str().unwrap()],
    );
    assert!(
        listed.contains("analytics") && !listed.contains(&secret),
        "{listed}"
    );
    let basic = Some(("analytics", secret.as_str()));
    let grant = [
        ("grant_type", "client_credentials"),
        ("resource", node.origin.as_str()),
    ];
    let token = access_token(&token_request(&agg, basic, &grant));
    assert_eq!(sessions(&node_server, &token), 200);

    // private_key_jwt with an Ed25519 key; an assertion is good once.
    let key = SigningKey::generate("client", &mut rand::rngs::OsRng).unwrap();
    let jwk = json!({"kty": "OKP", "crv": "Ed25519",
                     "x": URL_SAFE_NO_PAD.encode(key.verifier().public_key().as_bytes())});
    let jwk_file = root.path().join("client.jwk");
    std::fs::write(&jwk_file, jwk.to_string()).unwrap();
    clients_add(
        &agg_dir,
        &[
            "--id",
            "keyed",
            "--scope",
            "usage:read",
            "--audience",
            &node.origin,
            "--jwk",
            jwk_file.to_str().unwrap(),
        ],
    );
    let a = assertion(&key, "keyed", ISSUER, "one");
    let with_assertion = |a: &str| {
        token_request(
            &agg,
            None,
            &[
                ("grant_type", "client_credentials"),
                ("resource", node.origin.as_str()),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", a),
            ],
        )
    };
    let keyed = access_token(&with_assertion(&a));
    assert_eq!(sessions(&node_server, &keyed), 200);
    let replayed = with_assertion(&a);
    assert_eq!(
        (replayed.0, replayed.1["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let other_key = SigningKey::generate("thief", &mut rand::rngs::OsRng).unwrap();
    let stolen = with_assertion(&assertion(&other_key, "keyed", ISSUER, "two"));
    assert_eq!(stolen.1["error"], "invalid_client");
    let wrong_aud = with_assertion(&assertion(&key, "keyed", "https://elsewhere", "three"));
    assert_eq!(wrong_aud.1["error"], "invalid_client");

    // A writer registered through the admin API has no usage:read: 403.
    let admin_token = crate::support::admin_token(&agg_dir);
    let res = reqwest::blocking::Client::new()
        .post(format!("{}/v1/admin/clients", agg.url))
        .bearer_auth(admin_token.trim())
        .json(
            &json!({"id": "writer", "scopes": ["data:write"], "party": "GB*VLT",
                      "audiences": [node.origin]}),
        )
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let writer: Value = res.json().unwrap();
    let again = reqwest::blocking::Client::new()
        .post(format!("{}/v1/admin/clients", agg.url))
        .bearer_auth(admin_token.trim())
        .json(&json!({"id": "writer", "scopes": ["usage:read"], "audiences": [node.origin]}))
        .send()
        .unwrap();
    assert_eq!(again.status().as_u16(), 409);
    let writer_secret = writer["client_secret"].as_str().unwrap().to_owned();
    let writer_token = access_token(&token_request(
        &agg,
        Some(("writer", &writer_secret)),
        &grant,
    ));
    assert_eq!(sessions(&node_server, &writer_token), 403);
    let unauthenticated = reqwest::blocking::get(format!("{}/v1/admin/clients", agg.url)).unwrap();
    assert_eq!(unauthenticated.status().as_u16(), 401);

    // The token endpoint's RFC 6749 errors.
    let (status, body, headers) = token_request(&agg, Some(("analytics", "wrong")), &grant);
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(headers.contains_key("www-authenticate"));
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[
                ("grant_type", "client_credentials"),
                ("resource", "evfed.nowhere.example"),
            ],
            "invalid_target",
        ),
        (
            &[
                ("grant_type", "client_credentials"),
                ("resource", &node.origin),
                ("scope", "usage:read admin"),
            ],
            "invalid_scope",
        ),
        (
            &[("grant_type", "password"), ("resource", &node.origin)],
            "unsupported_grant_type",
        ),
        (&[("resource", &node.origin)], "invalid_request"),
    ];
    for (pairs, error) in cases {
        let (status, body, headers) = token_request(&agg, basic, pairs);
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{body}"
        );
        assert_eq!(headers["cache-control"], "no-store");
    }

    // Refused by the node: another node's audience, expired, alg none, HMAC, bad signature.
    let elsewhere = access_token(&token_request(
        &agg,
        basic,
        &[
            ("grant_type", "client_credentials"),
            ("resource", "evfed.other.example"),
        ],
    ));
    assert_eq!(sessions(&node_server, &elsewhere), 401);
    let claims = |exp: u64, iat: u64| {
        json!({"iss": ISSUER, "sub": "analytics",
        "client_id": "analytics", "aud": node.origin, "exp": exp, "iat": iat, "jti": "x",
        "scope": "usage:read"})
    };
    assert_eq!(
        sessions(&node_server, &forged(&agg_dir, &claims(now() + 600, now()))),
        200
    );
    let expired = forged(&agg_dir, &claims(now() - 3600, now() - 7200));
    assert_eq!(sessions(&node_server, &expired), 401);
    let payload = URL_SAFE_NO_PAD.encode(claims(now() + 600, now()).to_string());
    let none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#)
    );
    assert_eq!(sessions(&node_server, &none), 401);
    let mut hs = Header::new(Algorithm::HS256);
    hs.typ = Some("at+jwt".into());
    let public = jwks["keys"][0]["x"].as_str().unwrap();
    let hmac = jsonwebtoken::encode(
        &hs,
        &claims(now() + 600, now()),
        &EncodingKey::from_secret(public.as_bytes()),
    )
    .unwrap();
    assert_eq!(sessions(&node_server, &hmac), 401);
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut tampered: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    tampered["scope"] = json!("usage:read admin");
    parts[1] = URL_SAFE_NO_PAD.encode(tampered.to_string());
    assert_eq!(sessions(&node_server, &parts.join(".")), 401);

    // Key rotation: the old key stays published, tokens of the new key are fetched for.
    run(
        Path::new(AGGREGATOR),
        &["oauth", "rotate-key", "--dir", agg_dir.to_str().unwrap()],
    );
    assert_eq!(
        agg.json("/oauth2/jwks")["keys"].as_array().unwrap().len(),
        2
    );
    assert_eq!(sessions(&node_server, &token), 200);
    let fresh = access_token(&token_request(&agg, basic, &grant));
    let started = Instant::now();
    while sessions(&node_server, &fresh) != 200 {
        // The node fetches the JWKS for an unknown kid at most once per jwks_refresh (1 s).
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "new key never fetched"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The harvester, as a client of the aggregator's own authorization server, reads a member's
/// restricted log with client-credentials tokens: no `--usage-token` stored.
#[test]
fn the_harvester_gets_usage_tokens_by_client_credentials() {
    use std::os::unix::fs::PermissionsExt as _;

    evfed_aggregator::outgoing::install_crypto_provider();
    let root = tempfile::tempdir().unwrap();
    let agg_dir = aggregator(root.path());
    crate::support::configure_aggregator(
        &agg_dir,
        "[usage_client]\nclient_id = \"harvester\"\nsecret_file = \"harvester.secret\"\n",
    );
    let out = clients_add(
        &agg_dir,
        &[
            "--id",
            "harvester",
            "--scope",
            "usage:read",
            "--audience",
            "evfed.volt.example",
            "--secret",
        ],
    );
    let secret_file = agg_dir.join("harvester.secret");
    std::fs::write(&secret_file, format!("{}\n", client_secret(&out))).unwrap();
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let agg = Server::start(Path::new(AGGREGATOR), &agg_dir);

    let node = Node::init(root.path(), "volt");
    assert_eq!(node.origin, "evfed.volt.example");
    let config = node.dir.join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[[issuer]]\nissuer = \"{ISSUER}\"\njwks_uri = \"{}/oauth2/jwks\"\n",
        agg.url
    ));
    std::fs::write(&config, text).unwrap();
    let server = Server::start(&node_bin(), &node.dir);
    let writer = node.token("GB*VLT");
    crate::support::put_location_of(&server, &writer, "VLT", "U1", "51.53900");
    let res = reqwest::blocking::Client::new()
        .post(format!("{}/v1/sessions", server.url))
        .bearer_auth(&writer)
        .json(
            &json!([{"id": "S1", "country_code": "GB", "party_id": "VLT",
            "location_id": "U1", "evse_uid": "U1-1", "connector_id": "1",
            "start_date_time": "2026-11-20T10:00:00Z", "end_date_time": "2026-11-20T11:00:00Z",
            "kwh": 7.0}]),
        )
        .send()
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().unwrap());
    let vkey = Node::vkey(&server);
    run(
        Path::new(AGGREGATOR),
        &[
            "members",
            "add",
            "--dir",
            agg_dir.to_str().unwrap(),
            "--origin",
            &node.origin,
            "--url",
            &server.url,
            "--vkey",
            &vkey,
            "--kind",
            "cpo",
            "--party",
            "GB*VLT",
        ],
    );
    let m = crate::support::wait_member(&agg, &node.origin, |m| {
        // The session, once a signed restricted checkpoint covers it.
        m["usage"]["verified_size"].as_u64() >= Some(1)
    });
    assert_eq!(m["usage"]["state"], "ok", "{m}");
}

/// Secrets stay out of the logs, even at `debug`: client secrets (right or wrong, in the
/// `Authorization` header or the form), access tokens (valid or forged) and admin tokens, at
/// the aggregator's token endpoint and admin API and at a node that checks the tokens.
#[test]
fn no_secret_or_token_reaches_a_log() {
    evfed_aggregator::outgoing::install_crypto_provider();
    let root = tempfile::tempdir().unwrap();
    let agg_dir = aggregator(root.path());
    let (agg_log, node_log) = (root.path().join("agg.log"), root.path().join("node.log"));
    let agg = Server::start_logged(Path::new(AGGREGATOR), &agg_dir, &agg_log);
    let node = node_trusting(root.path(), &agg);
    let node_server = Server::start_logged(&node_bin(), &node.dir, &node_log);

    let secret = client_secret(&clients_add(
        &agg_dir,
        &[
            "--id",
            "analytics",
            "--scope",
            "usage:read",
            "--audience",
            &node.origin,
            "--secret",
        ],
    ));
    let grant = [
        ("grant_type", "client_credentials"),
        ("resource", node.origin.as_str()),
    ];
    let token = access_token(&token_request(&agg, Some(("analytics", &secret)), &grant));
    assert_eq!(sessions(&node_server, &token), 200);
    let wrong = format!("{secret}x");
    assert_eq!(
        token_request(&agg, Some(("analytics", &wrong)), &grant).0,
        401
    );
    let posted = [
        ("grant_type", "client_credentials"),
        ("resource", node.origin.as_str()),
        ("client_id", "analytics"),
        ("client_secret", secret.as_str()),
    ];
    let _ = token_request(&agg, None, &posted);
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged_signature = URL_SAFE_NO_PAD.encode([7u8; 64]);
    parts[2] = &forged_signature;
    let forged = parts.join(".");
    assert_eq!(sessions(&node_server, &forged), 401);
    let admin = crate::support::admin_token(&agg_dir);
    let res = reqwest::blocking::Client::new()
        .get(format!("{}/v1/admin/clients", agg.url))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    agg.stop();
    node_server.stop();

    for (name, log) in [("aggregator", &agg_log), ("node", &node_log)] {
        let text = std::fs::read_to_string(log).unwrap();
        // The log is not empty: requests were logged, just not their secrets.
        assert!(text.lines().count() >= 3, "{name} logged nothing:\n{text}");
        for (what, secret) in [
            ("client secret", secret.as_str()),
            ("wrong client secret", wrong.as_str()),
            ("access token", token.split('.').nth(2).unwrap()),
            ("forged token", forged_signature.as_str()),
            ("admin token", admin.split('.').nth(2).unwrap()),
        ] {
            assert!(
                !text.contains(secret),
                "the {name} logged a {what}:\n{text}"
            );
        }
    }
}
