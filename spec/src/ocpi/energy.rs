//! The energy supplied at a location or under a tariff (OCPI `EnergyMix`, `EnergySource`,
//! `EnvironmentalImpact`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::de;
use super::enums::{EnergySourceCategory, EnvironmentalImpactCategory};

/// Where the energy comes from and what it does to the environment (OCPI `EnergyMix`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EnergyMix {
    /// True when the energy is entirely from renewable sources.
    pub is_green_energy: bool,
    #[serde(
        default,
        deserialize_with = "de::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub energy_sources: Vec<EnergySource>,
    #[serde(
        default,
        deserialize_with = "de::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub environ_impact: Vec<EnvironmentalImpact>,
    #[serde(
        default,
        deserialize_with = "de::opt_string::<_, 64>",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(max_length = 64)]
    pub supplier_name: Option<String>,
    #[serde(
        default,
        deserialize_with = "de::opt_string::<_, 64>",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(max_length = 64)]
    pub energy_product_name: Option<String>,
}

/// One source's share of the mix (OCPI `EnergySource`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EnergySource {
    pub source: EnergySourceCategory,
    /// 0 to 100.
    #[serde(deserialize_with = "de::percentage")]
    #[schema(minimum = 0, maximum = 100)]
    pub percentage: f64,
}

/// An amount of environmental impact, in grams per kWh (OCPI `EnvironmentalImpact`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EnvironmentalImpact {
    pub category: EnvironmentalImpactCategory,
    pub amount: f64,
}
