//! Registering, re-admitting and removing members: the checks the command line and the admin
//! API share, so both refuse the same things with the same words.

use evfed_spec::ext::GssCode;
use evfed_spec::ids::Party;
use evfed_spec::note::VerifierKey;
use serde::Deserialize;

use crate::store::{Kind, NewMember, Readmission};

/// A member as an administrator describes it (`members add`, `POST /v1/admin/members`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    /// The member's origin (its checkpoints' first line).
    pub origin: String,
    /// Its base URL (http or https).
    #[schema(value_type = String)]
    pub url: url::Url,
    /// Verifier keys to pin, each named after the origin.
    pub vkeys: Vec<String>,
    pub kind: Kind,
    /// Parties it may publish for; empty = any.
    #[serde(default)]
    pub parties: Vec<Party>,
    #[serde(default)]
    pub borough: Option<GssCode>,
    /// Its DPS supplier id.
    #[serde(default)]
    pub supplier: Option<String>,
    /// A `usage:read` token the member issued, for its restricted log.
    #[serde(default)]
    pub usage_token: Option<String>,
}

/// A re-admission under new keys (`members readmit`, `POST /v1/admin/members/{origin}/readmit`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadmitSpec {
    /// The new origin, when the member moved.
    #[serde(default)]
    pub new_origin: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub url: Option<url::Url>,
    /// The new verifier keys, named after the (new) origin.
    pub vkeys: Vec<String>,
    /// Why: kept in the member's history.
    pub reason: String,
}

impl MemberSpec {
    pub fn check(self) -> Result<NewMember, String> {
        check_origin(&self.origin)?;
        check_vkeys(&self.vkeys, &self.origin)?;
        check_url(&self.url)?;
        if self.kind == Kind::Borough && self.borough.is_none() {
            return Err("a borough member needs its borough (GSS code)".into());
        }
        Ok(NewMember {
            origin: self.origin,
            url: self.url.as_str().trim_end_matches('/').to_owned(),
            kind: self.kind,
            parties: self.parties,
            borough: self.borough,
            supplier: self.supplier.filter(|s| !s.is_empty()),
            usage_token: self.usage_token.filter(|s| !s.is_empty()),
            vkeys: self.vkeys,
        })
    }
}

impl ReadmitSpec {
    pub fn check(self, origin: &str) -> Result<Readmission, String> {
        let named = self.new_origin.as_deref().unwrap_or(origin);
        check_origin(named)?;
        check_vkeys(&self.vkeys, named)?;
        if let Some(url) = &self.url {
            check_url(url)?;
        }
        if self.reason.trim().is_empty() {
            return Err("a re-admission needs a reason, kept in the member's history".into());
        }
        Ok(Readmission {
            origin: self.new_origin,
            url: self
                .url
                .map(|u| u.as_str().trim_end_matches('/').to_owned()),
            vkeys: self.vkeys,
            reason: self.reason,
        })
    }
}

fn check_origin(origin: &str) -> Result<(), String> {
    if origin.is_empty()
        || origin.len() > 253
        || origin.contains(|c: char| c.is_whitespace() || c == '+' || c.is_control())
    {
        return Err(format!(
            "origin {origin:?} must be non-empty, at most 253 bytes, without white space or '+'"
        ));
    }
    Ok(())
}

fn check_vkeys(vkeys: &[String], origin: &str) -> Result<(), String> {
    if vkeys.is_empty() {
        return Err(
            "a member needs at least one verifier key (printed by `evfed-node init`, listed in \
             its /.well-known/evfed)"
                .into(),
        );
    }
    for k in vkeys {
        let key: VerifierKey = k
            .parse()
            .map_err(|e| format!("{k:?} is not a verifier key: {e}"))?;
        if key.name() != origin {
            return Err(format!(
                "the verifier key is named {:?}, not the member's origin {origin:?}",
                key.name()
            ));
        }
    }
    Ok(())
}

fn check_url(url: &url::Url) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("{url} must be an http or https URL with a host"));
    }
    Ok(())
}
