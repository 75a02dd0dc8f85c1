//! Bodies of the node API that are not OCPI objects (spec §3.4, §10): the discovery document,
//! batch results, proofs, and the node-operations bodies of `/v1/admin`. The `/ocpi`
//! surface's envelope and its other answers are in [`crate::ocpi`].

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /.well-known/evfed` (spec §3.4). Readers ignore members they do not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Discovery {
    /// `"1"` for this standard.
    pub spec_version: String,
    /// The version of the standard the node implements, `"1.1"` (§3.4); absent means 1.0.
    /// A node that announces 1.1 is held to 1.1's stricter rules (e.g. `/v1/status`
    /// `event_time`, §10.5). `spec_version` stays `"1"` for every 1.x.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard: Option<String>,
    /// The public log's origin.
    pub origin: String,
    /// Verifier keys, current first, then previous keys newest first.
    pub vkeys: Vec<String>,
    /// `borough`, `cpo` or `aggregator`.
    pub kind: String,
    /// The authority's code for `kind: "borough"` (a London borough's ONS GSS code), else
    /// null. The same as `area.code`.
    pub borough: Option<String>,
    /// The node's area for `kind: "borough"`: its authority in the node's area set (§4.4).
    /// Absent from nodes of standard 1.0 and from other kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<AreaRef>,
    /// Parties (`CC*PID`) whose records the node holds or accepts; informative only.
    pub parties: Vec<String>,
    pub endpoints: Endpoints,
}

/// URLs (absolute or relative to the discovery document) of a node's resources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Endpoints {
    pub locations: String,
    pub tariffs: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<String>,
    /// Base URL of the public log: append `/checkpoint`, `/entries`, `/proof/...`.
    pub log: String,
    /// Base URL of the restricted log.
    pub restricted_log: String,
    pub ocpi_versions: String,
    pub openapi: String,
    /// The node's area set, the boundaries it places locations by (§4.4), as a GeoJSON
    /// FeatureCollection. Absent from nodes of standard 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub areas: Option<String>,
}

/// An area of an area set (§4.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AreaRef {
    /// The area's code, e.g. `E09000007` (London) or `GM0344` (Utrecht).
    pub code: String,
    /// e.g. `Camden`.
    pub name: String,
    /// `authority` or `ward`.
    pub level: String,
}

/// The answer to `POST /v1/status` and `POST /v1/sessions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchResult {
    /// Items in the request.
    pub received: u64,
    /// Log entries appended (items that changed nothing append none).
    pub appended: u64,
}

/// An inclusion or consistency proof (spec §10.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Proof {
    /// Base64 SHA-256 hashes in RFC 9162 order.
    pub hashes: Vec<String>,
}

/// One item's result in the answer to `POST /v1/admin/locations`, a node-operations endpoint
/// (not part of the standard) through which `evfed-node import` writes into a serving node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ItemResult {
    pub outcome: ItemOutcome,
    /// Log entries the item appended (0 unless created or updated).
    pub appended: u64,
    /// Why a rejected item was refused: the code its own `PUT` would have answered with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<crate::problem::ProblemCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The body of `POST /v1/admin/ocpi/registrations`, a node-operations endpoint (not part of
/// the standard) through which `evfed-node ocpi register` asks a serving node for an OCPI
/// registration token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OcpiRegistrationRequest {
    /// The party the credential will be bound to.
    pub party: crate::ids::Party,
    /// How long the registration token stays valid (default 7 days, at most 90).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
}

/// A new OCPI registration token (token A), shown once: the operator's platform sends it with
/// its own credentials to the node's credentials module, and gets the node's token back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OcpiRegistration {
    pub party: crate::ids::Party,
    pub token: String,
    pub expires_at: crate::time::DateTime,
    /// The node's OCPI versions URL, as the node was reached.
    pub versions_url: String,
}

/// An OCPI credential as a node holds it (tokens are kept only as hashes and never shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OcpiCredential {
    pub party: crate::ids::Party,
    /// An unused registration token is valid until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_until: Option<crate::time::DateTime>,
    /// The last completed credentials handshake (registration or rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<crate::time::DateTime>,
    /// The operator platform's OCPI versions URL, from its credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_url: Option<String>,
}

/// What happened to one item of a batch that is not all or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemOutcome {
    /// A new record.
    Created,
    /// An existing record changed.
    Updated,
    /// Equal to the stored record (`last_updated` aside): nothing appended.
    Unchanged,
    /// Refused; nothing of it was written.
    Rejected,
}

impl ItemResult {
    pub fn rejected(code: crate::problem::ProblemCode, detail: impl Into<String>) -> Self {
        Self {
            outcome: ItemOutcome::Rejected,
            appended: 0,
            code: Some(code),
            detail: Some(detail.into()),
        }
    }
}
