//! A small operator platform that speaks plain OCPI 2.2.1 to a node, as a CPO back office
//! would: discovery from a versions URL, the credentials handshake, and pushes with
//! `Authorization: Token <base64 of the token>`. It knows nothing of evfed.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

/// One OCPI answer: HTTP status, the envelope, and the `Location` header if any.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub location: Option<String>,
}

/// The platform's view of the node.
pub struct Platform {
    http: reqwest::blocking::Client,
    /// The token the platform presents (A, then C).
    pub token: String,
    /// Its own party and token B.
    pub country_code: String,
    pub party_id: String,
    pub token_b: String,
    /// (identifier, role) → URL, from the node's version details.
    pub endpoints: BTreeMap<(String, String), String>,
}

impl Answer {
    pub fn code(&self) -> u64 {
        self.body["status_code"].as_u64().unwrap_or(0)
    }

    pub fn message(&self) -> &str {
        self.body["status_message"].as_str().unwrap_or("")
    }

    /// Asserts HTTP 200 and OCPI 1000.
    pub fn ok(self) -> Self {
        assert!(
            self.status == 200 && self.code() == 1000,
            "expected success, got {} {}",
            self.status,
            self.body
        );
        self
    }

    /// Asserts the HTTP status and OCPI status code of a refusal, and the envelope's shape.
    pub fn refused(self, status: u16, code: u64) -> Self {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected answer: {}",
            self.body
        );
        assert!(self.body["timestamp"].is_string(), "{}", self.body);
        assert!(!self.message().is_empty());
        self
    }
}

impl Platform {
    /// A platform of party `CC*PID` holding registration token `token_a`.
    pub fn new(party: &str, token_a: &str) -> Self {
        let (cc, pid) = party.split_once('*').unwrap();
        evfed_node::embed::outgoing::install_crypto_provider();
        Self {
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            token: token_a.to_owned(),
            country_code: cc.to_owned(),
            party_id: pid.to_owned(),
            token_b: format!("platform-{pid}-token-b"),
            endpoints: BTreeMap::new(),
        }
    }

    /// Sends a request with the platform's token, OCPI 2.2.1 style.
    pub fn call(&self, method: Method, url: &str, body: Option<&[u8]>) -> Answer {
        let encoded = base64::engine::general_purpose::STANDARD.encode(&self.token);
        self.send(method, url, Some(&format!("Token {encoded}")), body)
    }

    /// Sends a request with the `Authorization` header given (or none).
    pub fn send(
        &self,
        method: Method,
        url: &str,
        authorization: Option<&str>,
        body: Option<&[u8]>,
    ) -> Answer {
        let mut req = self.http.request(method, url);
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_vec());
        }
        let res = req.send().unwrap();
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = res.text().unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("not an OCPI envelope ({e}): {text}"));
        Answer {
            status,
            body,
            location,
        }
    }

    /// Versions, then the 2.2.1 version details: remembers every endpoint.
    pub fn discover(&mut self, versions_url: &str) {
        let versions = self.call(Method::GET, versions_url, None).ok();
        let details_url = versions.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["version"] == "2.2.1")
            .unwrap()["url"]
            .as_str()
            .unwrap()
            .to_owned();
        let details = self.call(Method::GET, &details_url, None).ok();
        for e in details.body["data"]["endpoints"].as_array().unwrap() {
            let key = (
                e["identifier"].as_str().unwrap().to_owned(),
                e["role"].as_str().unwrap().to_owned(),
            );
            self.endpoints
                .insert(key, e["url"].as_str().unwrap().to_owned());
        }
    }

    pub fn endpoint(&self, identifier: &str, role: &str) -> &str {
        self.endpoints
            .get(&(identifier.to_owned(), role.to_owned()))
            .unwrap_or_else(|| panic!("the node offers no {identifier} {role}"))
    }

    /// The platform's own credentials object.
    pub fn credentials(&self) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "token": self.token_b,
            "url": "https://platform.example/ocpi/versions",
            "roles": [{
                "role": "CPO",
                "party_id": self.party_id,
                "country_code": self.country_code,
                "business_details": {"name": "Example Operator"}
            }]
        }))
        .unwrap()
    }

    /// The handshake: POST the platform's credentials with token A, keep token C.
    pub fn register(&mut self) -> Answer {
        let url = self.endpoint("credentials", "SENDER").to_owned();
        let answer = self
            .call(Method::POST, &url, Some(&self.credentials()))
            .ok();
        self.token = answer.body["data"]["token"].as_str().unwrap().to_owned();
        answer
    }

    /// `…/receiver/{module}/{rest}`.
    pub fn url(&self, module: &str, rest: &str) -> String {
        format!("{}/{rest}", self.endpoint(module, "RECEIVER"))
    }
}
