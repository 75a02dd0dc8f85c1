//! Starts the real `evfed-node` binary on `127.0.0.1:0` and loads it over its HTTP API, like
//! `node/tests/it/support.rs`. The binary is found beside this crate's own in the target
//! directory: `cargo test --workspace` builds it; when testing this crate alone, run
//! `cargo build -p evfed-node` first.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A node directory in a temporary folder and the serving process; killed on drop.
pub struct Node {
    pub tmp: tempfile::TempDir,
    pub child: Child,
    pub url: String,
    pub http: reqwest::blocking::Client,
}

/// The `evfed-node` binary next to `evfed-conformance`.
pub fn node_bin() -> PathBuf {
    let me = PathBuf::from(env!("CARGO_BIN_EXE_evfed-conformance"));
    let bin = me.with_file_name(format!("evfed-node{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not found: run `cargo build -p evfed-node` (or `cargo test --workspace`) first",
        bin.display()
    );
    bin
}

impl Node {
    /// A borough node for Camden, serving.
    pub fn camden() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("node");
        let out = Command::new(node_bin())
            .args([
                "init",
                "--dir",
                dir.to_str().unwrap(),
                "--origin",
                "evfed.camden.example",
            ])
            .args(["--kind", "borough", "--borough", "E09000007"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ready = tmp.path().join("ready.json");
        let log = std::fs::File::create(tmp.path().join("serve.log")).unwrap();
        let child = Command::new(node_bin())
            .args([
                "serve",
                "--dir",
                dir.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
                "--ready-file",
            ])
            .arg(&ready)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = loop {
            if let Ok(text) = std::fs::read_to_string(&ready)
                && let Ok(v) = serde_json::from_str::<Value>(&text)
            {
                break v["url"].as_str().unwrap().to_owned();
            }
            assert!(Instant::now() < deadline, "node not ready after 30 s");
            std::thread::sleep(Duration::from_millis(20));
        };
        evfed_conformance::http::install_crypto_provider();
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            tmp,
            child,
            url,
            http,
        }
    }

    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("node")
    }

    /// A token from the node's built-in issuer.
    pub fn token(&self, party: Option<&str>, scope: &str) -> String {
        let mut cmd = Command::new(node_bin());
        cmd.args([
            "token",
            "issue",
            "--dir",
            self.dir().to_str().unwrap(),
            "--scope",
            scope,
        ]);
        if let Some(p) = party {
            cmd.args(["--party", p]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .to_owned()
    }

    /// The node's log signing key (to forge checkpoints in broken-server scenarios).
    pub fn signing_key(&self) -> evfed_spec::note::SigningKey {
        std::fs::read_to_string(self.dir().join("node.key"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    fn send(&self, method: reqwest::Method, path: &str, token: &str, body: &Value) -> u16 {
        let res = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(body)
            .send()
            .unwrap();
        let status = res.status().as_u16();
        assert!(
            status < 300,
            "{path}: {status} {}",
            res.text().unwrap_or_default()
        );
        status
    }

    /// Public log size the node reports.
    pub fn tree_size(&self) -> u64 {
        let res = self
            .http
            .get(format!("{}/healthz", self.url))
            .send()
            .unwrap();
        res.headers()["evfed-tree-size"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Waits until the public checkpoint covers the whole log.
    pub fn wait_signed(&self) {
        let size = self.tree_size();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let note = self
                .http
                .get(format!("{}/v1/log/checkpoint", self.url))
                .send()
                .unwrap()
                .text()
                .unwrap();
            let signed: u64 = note.lines().nth(1).unwrap().parse().unwrap();
            if signed >= size {
                return;
            }
            assert!(Instant::now() < deadline, "no checkpoint of size {size}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Loads a small data set for two parties: Locations in Camden (one unpublished), a Tariff
    /// each, status changes (one of them repeated, which appends nothing), and sessions.
    pub fn load(&self) {
        for party in ["GB*ABC", "GB*XYZ"] {
            let (cc, pid) = party.split_once('*').unwrap();
            let w = self.token(Some(party), "data:write");
            let places = [
                ("51.539000", "-0.142600"),
                ("51.550200", "-0.164300"),
                ("51.550300", "-0.140500"),
            ];
            for (i, (lat, lon)) in places.iter().enumerate() {
                let id = format!("{pid}-{i}");
                let lu = format!("2026-11-2{i}T09:00:00Z");
                self.send(
                    reqwest::Method::PUT,
                    &format!("/v1/locations/{cc}/{pid}/{id}"),
                    &w,
                    &location(cc, pid, &id, lat, lon, &lu, true),
                );
            }
            let hidden = format!("{pid}-hidden");
            self.send(
                reqwest::Method::PUT,
                &format!("/v1/locations/{cc}/{pid}/{hidden}"),
                &w,
                &location(
                    cc,
                    pid,
                    &hidden,
                    "51.528100",
                    "-0.133800",
                    "2026-11-20T09:00:00Z",
                    false,
                ),
            );
            self.send(
                reqwest::Method::PUT,
                &format!("/v1/tariffs/{cc}/{pid}/T1"),
                &w,
                &tariff(cc, pid),
            );
            let status = |loc: &str, evse: &str, s: &str, t: &str| json!({"country_code": cc, "party_id": pid, "location_id": loc, "evse_uid": evse, "status": s, "event_time": t});
            let l0 = format!("{pid}-0");
            let l1 = format!("{pid}-1");
            let batch = json!([
                status(&l0, &format!("{l0}-1"), "CHARGING", "2026-11-21T17:30:00Z"),
                status(
                    &l1,
                    &format!("{l1}-2"),
                    "OUTOFORDER",
                    "2026-11-21T08:00:00Z"
                ),
            ]);
            self.send(reqwest::Method::POST, "/v1/status", &w, &batch);
            self.send(reqwest::Method::POST, "/v1/status", &w, &batch);
            let sessions = json!([
                {"id": format!("{pid}-S1"), "country_code": cc, "party_id": pid, "location_id": l0,
                 "evse_uid": format!("{l0}-1"), "connector_id": "1", "start_date_time": "2026-11-21T17:30:00Z",
                 "end_date_time": "2026-11-21T18:30:00Z", "kwh": 11.5,
                 "total_cost": {"excl_vat": 4.2, "incl_vat": 5.04}, "currency": "GBP"},
                {"id": format!("{pid}-S2"), "country_code": cc, "party_id": pid, "location_id": l1,
                 "evse_uid": format!("{l1}-1"), "connector_id": "1", "start_date_time": "2026-11-21T19:00:00Z", "kwh": 2.5},
            ]);
            self.send(reqwest::Method::POST, "/v1/sessions", &w, &sessions);
        }
        self.wait_signed();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An OCPI 2.2.1 Location with `evses` EVSEs of one Type 2 socket each.
pub fn location(
    cc: &str,
    pid: &str,
    id: &str,
    lat: &str,
    lon: &str,
    lu: &str,
    publish: bool,
) -> Value {
    let evse = |n: usize| {
        json!({
            "uid": format!("{id}-{n}"),
            "evse_id": format!("{cc}*{pid}*E{}{n}", id.replace('-', "")),
            "status": "AVAILABLE",
            "capabilities": ["REMOTE_START_STOP_CAPABLE"],
            "connectors": [{
                "id": "1", "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_1_PHASE",
                "max_voltage": 230, "max_amperage": 32, "max_electric_power": 7360,
                "tariff_ids": ["T1"], "last_updated": lu,
            }],
            "last_updated": lu,
        })
    };
    json!({
        "country_code": cc, "party_id": pid, "id": id, "publish": publish,
        "name": format!("Site {id}"), "address": "12 Camden High Street", "city": "London",
        "postal_code": "NW1 7JE", "country": "GBR",
        "coordinates": {"latitude": lat, "longitude": lon},
        "parking_type": "ON_STREET",
        "evses": [evse(1), evse(2)],
        "time_zone": "Europe/London", "last_updated": lu,
    })
}

/// An OCPI 2.2.1 Tariff of 40.83p/kWh.
pub fn tariff(cc: &str, pid: &str) -> Value {
    json!({
        "country_code": cc, "party_id": pid, "id": "T1", "currency": "GBP", "type": "REGULAR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": 0.4083, "vat": 20.0, "step_size": 1}]}],
        "last_updated": "2026-03-14T11:20:00Z",
    })
}
