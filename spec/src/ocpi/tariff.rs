//! OCPI 2.2.1 Tariffs module objects: `Tariff` → `TariffElement` → `PriceComponent`, with
//! `TariffRestrictions`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::common::{DisplayText, Price};
use super::de;
use super::energy::EnergyMix;
use super::enums::{DayOfWeek, ReservationRestrictionType, TariffDimensionType, TariffType};
use crate::ids::{CountryCode, Party, PartyId, TariffId};
use crate::time::DateTime;

/// What charging costs, owned by one party (OCPI `Tariff`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Tariff {
    pub country_code: CountryCode,
    pub party_id: PartyId,
    pub id: TariffId,
    /// ISO 4217 currency, e.g. `GBP`.
    #[serde(deserialize_with = "de::alpha3")]
    #[schema(pattern = "^[A-Z]{3}$", example = "GBP")]
    pub currency: String,
    /// When the tariff applies; absent means it applies to every session.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub tariff_type: Option<TariffType>,
    /// The tariff in words, for people.
    #[serde(
        default,
        deserialize_with = "de::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tariff_alt_text: Vec<DisplayText>,
    /// A web page about the tariff: an http(s) URL.
    #[serde(
        default,
        deserialize_with = "de::opt_url",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(max_length = 255)]
    pub tariff_alt_url: Option<String>,
    /// The least a session costs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_price: Option<Price>,
    /// The most a session costs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_price: Option<Price>,
    /// At least one. The first element whose restrictions match applies, per dimension.
    #[serde(deserialize_with = "de::non_empty")]
    #[schema(min_items = 1)]
    pub elements: Vec<TariffElement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_mix: Option<EnergyMix>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date_time: Option<DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<DateTime>,
    pub last_updated: DateTime,
}

/// Price components that apply together under optional restrictions (OCPI `TariffElement`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TariffElement {
    /// At least one.
    #[serde(deserialize_with = "de::non_empty")]
    #[schema(min_items = 1)]
    pub price_components: Vec<PriceComponent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restrictions: Option<TariffRestrictions>,
}

/// The price of one dimension (OCPI `PriceComponent`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PriceComponent {
    /// What is charged for (OCPI `type`).
    #[serde(rename = "type")]
    pub dimension: TariffDimensionType,
    /// Price per unit excluding VAT: per kWh, per hour, or the flat fee.
    pub price: f64,
    /// VAT percentage; absent when unknown or not applicable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat: Option<f64>,
    /// Billing granularity: Wh for energy, seconds for time, 1 for flat.
    pub step_size: u32,
}

/// When a tariff element applies (OCPI `TariffRestrictions`). Every restriction given must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TariffRestrictions {
    /// Local time `HH:MM` from which the element applies.
    #[serde(
        default,
        deserialize_with = "de::opt_time_of_day",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(pattern = "^([0-1][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start_time: Option<String>,
    /// Local time `HH:MM` until which the element applies; may be earlier than `start_time`
    /// (the period crosses midnight).
    #[serde(
        default,
        deserialize_with = "de::opt_time_of_day",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(pattern = "^([0-1][0-9]|2[0-3]):[0-5][0-9]$")]
    pub end_time: Option<String>,
    /// Local date `YYYY-MM-DD` from which the element applies.
    #[serde(
        default,
        deserialize_with = "de::opt_date",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(pattern = "^[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]
    pub start_date: Option<String>,
    /// Local date `YYYY-MM-DD` until which (exclusive) the element applies.
    #[serde(
        default,
        deserialize_with = "de::opt_date",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(pattern = "^[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]
    pub end_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kwh: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_kwh: Option<f64>,
    /// Amperes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_current: Option<f64>,
    /// Amperes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_current: Option<f64>,
    /// kW.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_power: Option<f64>,
    /// kW.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_power: Option<f64>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_duration: Option<u32>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<u32>,
    #[serde(
        default,
        deserialize_with = "de::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub day_of_week: Vec<DayOfWeek>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<ReservationRestrictionType>,
}

impl Tariff {
    pub fn party(&self) -> Party {
        Party::new(self.country_code.clone(), self.party_id.clone())
    }
}
