//! The node's one configuration file, `DIR/config.toml`: typed, every key documented, unknown
//! keys refused. Layering is defaults → file → environment/command line (the `serve` flags,
//! which clap also reads from `EVFED_*` variables).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use evfed_spec::checkpoint::RESTRICTED_SUFFIX;
use evfed_spec::ext::GssCode;

use crate::domain::areas::NodeAreas;
use evfed_spec::ids::Party;
use serde::{Deserialize, Deserializer, Serialize};

/// Default address `serve` listens on.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// What kind of organisation runs the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A London borough: hosts several operators' data for its area.
    Borough,
    /// A chargepoint operator: publishes its own parties' data.
    Cpo,
    /// An aggregator's own log: the merged view of the nodes it federates (spec §2.3).
    Aggregator,
}

impl Kind {
    /// The name in `config.toml` and the discovery document.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Borough => "borough",
            Kind::Cpo => "cpo",
            Kind::Aggregator => "aggregator",
        }
    }
}

/// Text or JSON log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `DIR/config.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The public log's origin; names the node everywhere. Set once by `init`.
    pub origin: Origin,
    pub kind: Kind,
    /// The node's authority, a code of its area set (a London borough's ONS GSS code);
    /// required for `kind = "borough"`, refused otherwise. `borough` is its older name.
    #[serde(default, alias = "borough")]
    pub area: Option<GssCode>,
    /// The area set (GeoJSON, STANDARD.md §4.4), relative to the node directory. None:
    /// London's boroughs and wards, embedded.
    #[serde(default)]
    pub areas: Option<PathBuf>,
    /// The area set as loaded by [`Config::load`].
    #[serde(skip)]
    pub area_set: NodeAreas,
    /// Parties whose records the node accepts. Empty: any party holding a trusted `data:write`
    /// token.
    #[serde(default, deserialize_with = "parties")]
    pub parties: Vec<Party>,
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Longest wait between a log growing and a checkpoint covering it.
    #[serde(default = "default_checkpoint_interval", deserialize_with = "duration")]
    pub checkpoint_interval: Duration,
    /// Largest accepted request body, in bytes.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Log line format.
    #[serde(default)]
    pub log_format: LogFormat,
    /// This node's own OCPI party (CC*PID), named in the credentials it gives operators that
    /// push OCPI to it (`docs/ocpi-receiver.md`). None: `ocpi register` refuses until it is set.
    #[serde(default, deserialize_with = "opt_party")]
    pub ocpi_party: Option<Party>,
    /// Operators' OCPI senders that `serve` pulls on a schedule (`[[pull]]` tables).
    #[serde(default)]
    pub pull: Vec<PullConfig>,
    /// Token issuers trusted besides the built-in one (`[[issuer]]` tables, spec §14.4).
    #[serde(default, rename = "issuer")]
    pub issuers: Vec<crate::trust::IssuerConfig>,
    /// Request limits at the HTTP edge (`[limits]`).
    #[serde(default)]
    pub limits: Limits,
    /// Serve HTTPS with this certificate and key (`[tls]`). None: plain HTTP (behind a proxy
    /// that terminates TLS, or on loopback).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

/// `[limits]`: how many requests the HTTP edge lets through per minute before answering `429`.
/// Shared by the node and the aggregator (`aggregator.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Requests a minute from one peer address (an IPv6 address counts by its /64); 0: no
    /// limit. Default 6000. Behind a reverse proxy every request comes from the proxy's
    /// address, so raise or turn off this limit there and limit at the proxy.
    #[serde(default = "default_per_ip")]
    pub per_ip_per_minute: u64,
    /// Requests a minute carrying one `Authorization` value (one client's token); 0: no limit.
    /// Default 6000. Counted besides the per-address limit.
    #[serde(default = "default_per_client")]
    pub per_client_per_minute: u64,
}

/// `[tls]`: serve HTTPS directly (rustls). Paths are relative to the server's directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file holding the certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM file holding the private key (PKCS#8, PKCS#1 or SEC1), mode 0600: a key readable by
    /// group or others is refused at start-up.
    pub key: PathBuf,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_ip_per_minute: default_per_ip(),
            per_client_per_minute: default_per_client(),
        }
    }
}

fn default_per_ip() -> u64 {
    6000
}

fn default_per_client() -> u64 {
    6000
}

/// One `[[pull]]` table: an operator's OCPI sender that `serve` pulls on a schedule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullConfig {
    /// A versions URL, a version-details URL, or a module URL (http or https).
    #[serde(deserialize_with = "http_url")]
    pub url: url::Url,
    /// File holding the credentials token the operator issued, mode 0600; relative paths are
    /// inside the node directory. None: pull without a token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Time from the end of one pull to the start of the next (at least 10 s).
    #[serde(default = "default_pull_interval", deserialize_with = "duration")]
    pub interval: Duration,
    /// The party (CC*PID) of objects that carry no country_code/party_id (OCPI 2.1.1 feeds).
    #[serde(default, deserialize_with = "opt_party")]
    pub party: Option<Party>,
    /// Only these modules (tariffs, locations, sessions, cdrs); empty: all the sender offers.
    #[serde(default)]
    pub modules: Vec<crate::pull::Module>,
}

/// A log origin (spec §3.1), checked to leave room for the restricted suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

/// A problem with the configuration, said so that the operator knows what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.display().to_string(),
            source: Box::new(source),
        })?;
        if let Some(file) = &config.areas {
            let dir = path.parent().unwrap_or(Path::new("."));
            config.area_set = NodeAreas::load(&dir.join(file)).map_err(ConfigError::Invalid)?;
        }
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        match (self.kind, &self.area) {
            (Kind::Borough, None) => Err(ConfigError::Invalid(
                "kind = \"borough\" needs `area = \"CODE\"`: the authority's code in the area \
                 set (a London borough's ONS GSS code, e.g. E09000007)"
                    .into(),
            )),
            (Kind::Cpo | Kind::Aggregator, Some(_)) => Err(ConfigError::Invalid(
                "`area` (or `borough`) is only for kind = \"borough\"; remove it for a CPO node"
                    .into(),
            )),
            (Kind::Borough, Some(code)) if self.area_set.authority(code).is_err() => Err(
                ConfigError::Invalid(self.area_set.authority(code).err().unwrap_or_default()),
            ),
            _ if self.checkpoint_interval.is_zero() => Err(ConfigError::Invalid(
                "checkpoint_interval must be above zero, e.g. \"1s\"".into(),
            )),
            _ if self.max_body_bytes < 1024 * 1024 => Err(ConfigError::Invalid(
                "max_body_bytes must be at least 1048576 (the standard requires 1 MiB bodies)"
                    .into(),
            )),
            _ if self
                .pull
                .iter()
                .any(|p| p.interval < Duration::from_secs(10)) =>
            {
                Err(ConfigError::Invalid(
                    "a [[pull]] interval must be at least \"10s\"".into(),
                ))
            }
            _ => self
                .issuers
                .iter()
                .try_for_each(|i| i.check().map_err(ConfigError::Invalid)),
        }
    }

    /// This node's OCPI party, which registering an operator's OCPI platform needs.
    pub fn ocpi_party_for_registration(&self) -> Result<&Party, ConfigError> {
        self.ocpi_party.as_ref().ok_or_else(|| {
            ConfigError::Invalid(
                "registering an OCPI platform needs this node's own OCPI party: set \
                 `ocpi_party = \"CC*PID\"` in config.toml (and restart a serving node)"
                    .into(),
            )
        })
    }

    /// May the node hold records of `party`?
    pub fn accepts(&self, party: &Party) -> bool {
        self.parties.is_empty() || self.parties.contains(party)
    }

    /// The commented file `init` writes.
    pub fn template(
        origin: &Origin,
        kind: Kind,
        area: Option<&GssCode>,
        areas: Option<&Path>,
        parties: &[Party],
    ) -> String {
        let kind = kind.as_str();
        let area = match area {
            Some(b) => format!("area = \"{b}\""),
            None => "# area = \"E09000007\"".to_owned(),
        };
        let areas = match areas {
            Some(f) => format!("areas = \"{}\"", f.display()),
            None => "# areas = \"areas.geojson\"".to_owned(),
        };
        let parties = parties
            .iter()
            .map(|p| format!("\"{p}\""))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            r#"# evfed-node configuration. Every key is listed; commented keys show their default.

# The public log's origin (spec §3.1): names this node in checkpoints, keys and token audiences.
# Set once by `evfed-node init`; never change it or reuse it for another log.
origin = "{origin}"

# "borough" (hosts several operators' data for one authority, e.g. a London borough), "cpo" (an
# operator) or "aggregator" (an aggregator's own log of the view it federates).
kind = "{kind}"

# The area set locations are placed in (their authority and ward, from their coordinates): a
# GeoJSON file relative to this directory (docs/adopt.md). Default: London's 33 boroughs and
# 704 wards (2022), built in.
{areas}

# The node's authority, a code of the area set (a London borough's ONS GSS code), for
# kind = "borough" only. Locations outside it are kept without an authority and flagged
# `outside_area`. (`borough` is accepted as the older name of this key.)
{area}

# Parties (CC*PID) whose records this node accepts. Empty: any party with a trusted token.
parties = [{parties}]

# Address to listen on (overridden by `serve --listen` or EVFED_LISTEN).
# listen = "{DEFAULT_LISTEN}"

# Longest wait between a log growing and a signed checkpoint covering it ("500ms", "1s", "2m").
# checkpoint_interval = "1s"

# Largest request body accepted, in bytes (at least 1 MiB).
# max_body_bytes = 1048576

# "text" or "json" log lines on standard error (overridden by `serve --log-format`).
# log_format = "text"

# This node's own OCPI party (CC*PID). Operators whose platforms push OCPI 2.2.1 to this node
# register with a token from `evfed-node ocpi register`; the credentials the node gives them
# name this party, with role NAP. Needed before the first `ocpi register`.
# ocpi_party = "GB*EVF"

# Operators' OCPI 2.2.1 (or 2.1.1) senders that `serve` pulls on a schedule, one [[pull]] table
# each. `url` is the operator's versions URL or a module URL; `token_file` holds the credentials
# token they issued (mode 0600, relative to this directory); `interval` is the pause between
# pulls (default "15m", at least "10s"); `party` names the CC*PID of objects that carry none
# (OCPI 2.1.1); `modules` limits the pull (default: every sender module offered, of tariffs,
# locations, sessions, cdrs). The same pull runs once with `evfed-node pull ocpi`.
# [[pull]]
# url = "https://ocpi.operator.example/ocpi/versions"
# token_file = "operator.token"
# interval = "15m"
# party = "GB*ABC"
# modules = ["locations", "tariffs"]

# Token issuers trusted besides this node's built-in one (spec §14.4), one [[issuer]] table each:
# an evfed aggregator's authorization server, Keycloak, Microsoft Entra ID (docs/access.md).
# `issuer` is the tokens' `iss`; `jwks_uri` names its keys, or `discovery` its RFC 8414 or OpenID
# Connect document; `audience` is the `aud` its tokens carry for this node (default: the origin);
# `algorithms` those accepted (default ["EdDSA"]; RS256, PS256, ES256… only when listed; never
# none or HMAC); `scope_claim` is "scope" (default), "scp" or "roles"; `scope_map` renames claim
# values to scopes; `party_claim` holds the CC*PID (default "party"); `also_iss` lists further
# accepted `iss` values; `accept_jwt_typ` also accepts header typ "JWT"; `jwks_refresh` is the
# shortest pause between key fetches for an unknown kid (default "60s").
# [[issuer]]
# issuer = "https://evfed.london.example"
# jwks_uri = "https://evfed.london.example/oauth2/jwks"

# Requests a minute the server lets through before answering 429 (problem+json, code
# "rate-limited", with Retry-After): per peer address (an IPv6 address counts by its /64), and
# per client (per Authorization value). 0 turns a limit off. Behind a reverse proxy every
# request comes from the proxy's address: limit there and set per_ip_per_minute = 0 here.
# [limits]
# per_ip_per_minute = 6000
# per_client_per_minute = 6000

# Serve HTTPS directly (rustls; HTTP/1.1), with Strict-Transport-Security. PEM files, relative
# to this directory; the key must be mode 0600. Without [tls], plain HTTP.
# [tls]
# cert = "tls/cert.pem"
# key = "tls/key.pem"
"#
        )
    }
}

impl Origin {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Origin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let max = evfed_spec::checkpoint::MAX_ORIGIN_LEN - RESTRICTED_SUFFIX.len();
        if s.is_empty() || s.len() > max {
            return Err(format!("an origin is 1 to {max} bytes"));
        }
        if s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+')
        {
            return Err("an origin has no white space, control characters or '+'".into());
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Origin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Parses "250ms", "1s", "5m", "1h", "7d".
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as \"500ms\", \"1s\", \"1h\""))?;
    let ms = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        _ => None,
    };
    ms.map(Duration::from_millis)
        .ok_or_else(|| format!("`{s}` is not a duration such as \"500ms\", \"1s\", \"1h\""))
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_checkpoint_interval() -> Duration {
    Duration::from_secs(1)
}

fn default_pull_interval() -> Duration {
    Duration::from_secs(15 * 60)
}

fn http_url<'de, D: Deserializer<'de>>(d: D) -> Result<url::Url, D::Error> {
    let s = String::deserialize(d)?;
    match url::Url::parse(&s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(u),
        _ => Err(serde::de::Error::custom(format!(
            "`{s}` is not an http(s) URL such as \"https://ocpi.operator.example/ocpi/versions\""
        ))),
    }
}

fn opt_party<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Party>, D::Error> {
    let s = String::deserialize(d)?;
    s.parse()
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("party `{s}`: {e}")))
}

fn default_max_body_bytes() -> usize {
    1024 * 1024
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    parse_duration(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn parties<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Party>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|p| {
            p.parse()
                .map_err(|e| serde::de::Error::custom(format!("party `{p}`: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_round_trips_and_unknown_keys_are_refused() {
        let origin: Origin = "evfed.camden.example".parse().unwrap();
        let borough: GssCode = "E09000007".parse().unwrap();
        let parties = vec!["GB*ABC".parse().unwrap()];
        let text = Config::template(&origin, Kind::Borough, Some(&borough), None, &parties);
        let config: Config = toml::from_str(&text).unwrap();
        config.check().unwrap();
        assert_eq!(config.origin, origin);
        assert_eq!(config.listen, default_listen());
        assert_eq!(config.checkpoint_interval, Duration::from_secs(1));
        assert_eq!(config.parties, parties);
        assert_eq!(config.ocpi_party, None);
        assert_eq!(config.limits, Limits::default());
        assert_eq!(config.tls, None);
        let edges = text
            .replace("# [limits]", "[limits]")
            .replace("# per_ip_per_minute = 6000", "per_ip_per_minute = 0")
            .replace("# [tls]", "[tls]")
            .replace("# cert =", "cert =")
            .replace("# key =", "key =");
        let edges: Config = toml::from_str(&edges).unwrap();
        assert_eq!(edges.limits.per_ip_per_minute, 0);
        assert_eq!(edges.limits.per_client_per_minute, 6000);
        assert_eq!(edges.tls.unwrap().key, PathBuf::from("tls/key.pem"));
        let set: Config = toml::from_str(&text.replace("# ocpi_party", "ocpi_party")).unwrap();
        assert_eq!(set.ocpi_party.unwrap().to_string(), "GB*EVF");
        let typo = format!("{text}\ncheckpoint_intervall = \"2s\"\n");
        let err = toml::from_str::<Config>(&typo).unwrap_err().to_string();
        assert!(err.contains("checkpoint_intervall"), "{err}");
    }

    #[test]
    fn pull_tables() {
        let base = "origin = \"o\"\nkind = \"cpo\"\n";
        let one = format!(
            "{base}[[pull]]\nurl = \"https://cpo.example/ocpi/versions\"\ntoken_file = \"cpo.token\"\n\
             interval = \"5m\"\nparty = \"gb*abc\"\nmodules = [\"locations\"]\n"
        );
        let config: Config = toml::from_str(&one).unwrap();
        config.check().unwrap();
        let p = &config.pull[0];
        assert_eq!(p.interval, Duration::from_secs(300));
        assert_eq!(p.party.as_ref().unwrap().to_string(), "GB*ABC");
        assert_eq!(p.modules, [crate::pull::Module::Locations]);
        let defaults: Config =
            toml::from_str(&format!("{base}[[pull]]\nurl = \"http://127.0.0.1:9/l\"\n")).unwrap();
        assert_eq!(defaults.pull[0].interval, Duration::from_secs(900));
        for bad in [
            "url = \"ftp://cpo.example/\"",
            "url = \"https://cpo.example/\"\ntoken = \"secret\"",
            "url = \"https://cpo.example/\"\nmodules = [\"tokens\"]",
        ] {
            assert!(
                toml::from_str::<Config>(&format!("{base}[[pull]]\n{bad}\n")).is_err(),
                "{bad}"
            );
        }
        let fast: Config = toml::from_str(&format!(
            "{base}[[pull]]\nurl = \"https://cpo.example/\"\ninterval = \"1s\"\n"
        ))
        .unwrap();
        assert!(fast.check().is_err());
    }

    #[test]
    fn borough_rules() {
        let cpo = "origin = \"o\"\nkind = \"cpo\"\nborough = \"E09000007\"\n";
        assert!(toml::from_str::<Config>(cpo).unwrap().check().is_err());
        let borough = "origin = \"o\"\nkind = \"borough\"\n";
        assert!(toml::from_str::<Config>(borough).unwrap().check().is_err());
        let outside = "origin = \"o\"\nkind = \"borough\"\nborough = \"E08000003\"\n";
        assert!(toml::from_str::<Config>(outside).unwrap().check().is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("1 fortnight").is_err());
        assert!(parse_duration("").is_err());
        assert!("has space".parse::<Origin>().is_err());
        assert!("a+b".parse::<Origin>().is_err());
    }
}
