//! What the OCPI 2.2.1 surface answers (spec §10.7): the response envelope (OCPI §4.1.6), the
//! version list and version details (OCPI §6) and the credentials object (OCPI §7.3.1). They
//! give `spec/openapi/node.json` its schemas for `/ocpi`, so that an implementer reads the
//! shapes there instead of in OCPI's text.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::BusinessDetails;
use crate::ids::{CountryCode, PartyId};
use crate::time::DateTime;

/// An OCPI 2.2.1 response (OCPI §4.1.6) that succeeded, carrying its answer in `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OcpiResponse<T> {
    /// The answer. Absent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    /// `1000` for success (OCPI §5).
    pub status_code: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// When the response was generated.
    pub timestamp: DateTime,
}

/// An OCPI 2.2.1 response (OCPI §4.1.6) that succeeded without `data`: the answer to a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OcpiAck {
    /// `1000` for success (OCPI §5).
    pub status_code: u32,
    /// `Success`, or what the node did besides (e.g. the deviations it repaired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    pub timestamp: DateTime,
}

/// An OCPI 2.2.1 error (OCPI §4.1.6, §5), with the HTTP status that fits (e.g. `2001` with
/// `400`, `2003` with `404`): the envelope without `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OcpiErrorResponse {
    /// `2xxx` for a client error, `3xxx` for a server error (OCPI §5).
    #[schema(minimum = 2000, maximum = 3999, example = 2003)]
    pub status_code: u32,
    /// What went wrong, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    pub timestamp: DateTime,
}

/// One OCPI version a platform offers (OCPI §6.1, `data` of `GET /ocpi/versions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Version {
    /// e.g. `2.2.1`.
    #[schema(example = "2.2.1")]
    pub version: String,
    /// The version details endpoint, an absolute URL.
    pub url: String,
}

/// The modules of one OCPI version (OCPI §6.2, `data` of `GET /ocpi/2.2.1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VersionDetails {
    #[schema(example = "2.2.1")]
    pub version: String,
    pub endpoints: Vec<Endpoint>,
}

/// One module endpoint in version details (OCPI §6.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Endpoint {
    /// The OCPI module id, e.g. `locations`, `tariffs`, `credentials`.
    #[schema(example = "locations")]
    pub identifier: String,
    pub role: InterfaceRole,
    /// The module's base URL, absolute.
    pub url: String,
}

/// Which interface of a module an endpoint is (OCPI's `InterfaceRole`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InterfaceRole {
    /// The platform owns the data: readers `GET` it here.
    Sender,
    /// The platform takes the data: its owner `PUT`s and `PATCH`es it here.
    Receiver,
}

/// An OCPI 2.2.1 credentials object (OCPI §7.3.1): how to reach a platform and the token to
/// use there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Credentials {
    /// The token the other platform sends in `Authorization: Token …`.
    #[schema(max_length = 64)]
    pub token: String,
    /// The platform's versions endpoint (`…/ocpi/versions`), an absolute URL.
    pub url: String,
    /// The parties, and their roles, that use this connection.
    #[schema(min_items = 1)]
    pub roles: Vec<CredentialsRole>,
}

/// One party's role in a credentials object (OCPI's `CredentialsRole`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CredentialsRole {
    /// OCPI's `Role`: `CPO`, `EMSP`, `HUB`, `NAP`, `NSP`, `OTHER` or `SCSP`; a node
    /// answers `NAP`.
    #[schema(example = "NAP")]
    pub role: String,
    pub business_details: BusinessDetails,
    pub party_id: PartyId,
    pub country_code: CountryCode,
}

/// A CDR as a node keeps it and answers `GET …/receiver/cdrs/{cc}/{pid}/{id}` (STANDARD.md
/// §10.7): the CDR's identity and `last_updated` with the figures of its usage record, in
/// OCPI's CDR member names. Driver data (tokens, authorisation references) is never kept, so
/// this is not the CDR that was sent; a reader compares what it sent with these members only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeptCdr {
    pub country_code: CountryCode,
    pub party_id: PartyId,
    /// The CDR's id.
    pub id: String,
    /// The session the CDR closes, when it differs from the CDR's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    pub start_date_time: DateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<DateTime>,
    pub cdr_location: KeptCdrLocation,
    /// kWh.
    pub total_energy: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cost: Option<super::Price>,
    /// ISO 4217 code of `total_cost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// A credit CDR (reverses an earlier one); absent means false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub credit: bool,
    /// As the sender wrote it.
    pub last_updated: String,
}

/// Where a kept CDR's charging took place (OCPI `CdrLocation`, its identifying members).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeptCdrLocation {
    /// The Location's id.
    pub id: crate::ids::LocationId,
    pub evse_uid: crate::ids::EvseUid,
    pub connector_id: crate::ids::ConnectorId,
}
