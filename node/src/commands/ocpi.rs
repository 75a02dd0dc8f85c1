//! `ocpi register|list|revoke`: OCPI credentials for operators whose platforms push to this
//! node (see `docs/ocpi-receiver.md`). With the node stopped the command takes the directory
//! lock and writes the database itself; while `serve` runs it asks the serving node, through
//! `/v1/admin/ocpi/registrations`, since only the serving process writes its database.

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use evfed_spec::api::{OcpiCredential, OcpiRegistration, OcpiRegistrationRequest};
use evfed_spec::ids::Party;
use evfed_spec::time::DateTime;

use super::{policy, reachable};
use crate::config::Config;
use crate::home::{Home, HomeError};
use crate::outgoing::StatusCode;
use crate::receiver::credentials;
use crate::remote::{ServingNode, refusal};
use crate::store::Store;

/// How long one request to a serving node may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What a command did, and where.
#[derive(Debug)]
pub struct Done<T> {
    pub value: T,
    /// The serving node it went through, or `None` when written in this process.
    pub via: Option<String>,
}

/// `ocpi register`: a registration token (token A) for `party`, valid for `ttl`.
pub fn register(
    dir: &Path,
    party: &Party,
    ttl: Duration,
) -> anyhow::Result<Done<OcpiRegistration>> {
    let home = Home::new(dir);
    let config = home.config()?;
    config.ocpi_party_for_registration()?;
    if !config.accepts(party) {
        bail!(
            "this node does not accept party {party} (see `parties` in {})",
            home.config_path().display()
        );
    }
    match home.lock() {
        Ok(_lock) => {
            let store = Store::open(&home.database_path())?;
            let reg = credentials::register(&store, &policy(&config), party, ttl, DateTime::now())?;
            Ok(Done {
                value: OcpiRegistration {
                    party: reg.party,
                    token: reg.token.expose().to_owned(),
                    expires_at: reg.expires_at,
                    versions_url: format!("http://{}/ocpi/versions", reachable(config.listen)),
                },
                via: None,
            })
        }
        Err(HomeError::Locked(_)) => {
            let node = ServingNode::connect(&home, &config, REQUEST_TIMEOUT)?;
            let body = OcpiRegistrationRequest {
                party: party.clone(),
                ttl_seconds: Some(ttl.as_secs()),
            };
            let value = node
                .post_json("/v1/admin/ocpi/registrations", serde_json::to_vec(&body)?)?
                .json(&node)?;
            Ok(Done {
                value,
                via: Some(node.url().to_owned()),
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// `ocpi list`: every credential, by party.
pub fn list(dir: &Path) -> anyhow::Result<Done<Vec<OcpiCredential>>> {
    let home = Home::new(dir);
    let config = home.config()?;
    match home.lock() {
        Ok(_lock) => {
            let store = Store::open(&home.database_path())?;
            let value = credentials::list(&store)?
                .into_iter()
                .map(|c| OcpiCredential {
                    party: c.party,
                    pending_until: c.pending_until,
                    registered_at: c.registered_at,
                    client_url: c.client_url,
                })
                .collect();
            Ok(Done { value, via: None })
        }
        Err(HomeError::Locked(_)) => {
            let node = ServingNode::connect(&home, &config, REQUEST_TIMEOUT)?;
            let value = node.get("/v1/admin/ocpi/registrations")?.json(&node)?;
            Ok(Done {
                value,
                via: Some(node.url().to_owned()),
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// `ocpi revoke`: removes `party`'s credential; its tokens stop working at once.
pub fn revoke(dir: &Path, party: &Party) -> anyhow::Result<Done<()>> {
    let home = Home::new(dir);
    let config: Config = home.config()?;
    let none = || anyhow::anyhow!("party {party} has no OCPI credential on this node");
    match home.lock() {
        Ok(_lock) => {
            let store = Store::open(&home.database_path())?;
            if !credentials::unregister(&store, party)? {
                return Err(none());
            }
            Ok(Done {
                value: (),
                via: None,
            })
        }
        Err(HomeError::Locked(_)) => {
            let node = ServingNode::connect(&home, &config, REQUEST_TIMEOUT)?;
            let path = format!(
                "/v1/admin/ocpi/registrations/{}/{}",
                party.country_code, party.party_id
            );
            let answer = node.delete(&path)?;
            match answer.status {
                s if s.is_success() => Ok(Done {
                    value: (),
                    via: Some(node.url().to_owned()),
                }),
                StatusCode::NOT_FOUND => Err(none()),
                s => bail!("the serving node refused ({s}): {}", refusal(&answer.body)),
            }
        }
        Err(e) => Err(e.into()),
    }
}
