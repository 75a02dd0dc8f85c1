//! The demo's HTTP calls to nodes and the aggregator (blocking, loopback only).

use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A client for the demo's own processes.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::blocking::Client,
}

impl Http {
    pub fn new() -> anyhow::Result<Self> {
        // reqwest is built without a TLS provider of its own; the demo speaks plain HTTP on
        // loopback, but building a client needs one installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .context("building the HTTP client")?;
        Ok(Http { client })
    }

    /// `GET url` as JSON.
    pub fn get<T: DeserializeOwned>(&self, url: &str) -> anyhow::Result<T> {
        let res = self
            .client
            .get(url)
            .send()
            .with_context(|| format!("GET {url}"))?;
        decode(res, "GET", url)
    }

    /// `GET url` as text.
    pub fn get_text(&self, url: &str) -> anyhow::Result<String> {
        let res = self
            .client
            .get(url)
            .send()
            .with_context(|| format!("GET {url}"))?;
        if !res.status().is_success() {
            bail!("GET {url}: {}", res.status());
        }
        Ok(res.text()?)
    }

    /// `GET url` and its `X-Total-Count`.
    pub fn total_count(&self, url: &str) -> anyhow::Result<u64> {
        let res = self
            .client
            .get(url)
            .send()
            .with_context(|| format!("GET {url}"))?;
        if !res.status().is_success() {
            bail!("GET {url}: {}", res.status());
        }
        res.headers()
            .get("x-total-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("GET {url}: no X-Total-Count"))
    }

    /// `POST url` with a JSON body and a bearer token, answer as JSON.
    pub fn post<T: DeserializeOwned>(
        &self,
        url: &str,
        token: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<T> {
        let res = self
            .client
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .with_context(|| format!("POST {url}"))?;
        decode(res, "POST", url)
    }
}

fn decode<T: DeserializeOwned>(
    res: reqwest::blocking::Response,
    method: &str,
    url: &str,
) -> anyhow::Result<T> {
    let status = res.status();
    let bytes = res.bytes()?;
    if !status.is_success() {
        let detail = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["detail"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        bail!("{method} {url}: {status}: {detail}");
    }
    serde_json::from_slice(&bytes).with_context(|| format!("{method} {url}: unexpected answer"))
}
