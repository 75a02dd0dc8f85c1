//! OCPI classes shared by Locations and Tariffs: `DisplayText`, `Price`, `BusinessDetails`, `Image`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::de;
use super::enums::ImageCategory;

/// Text in one language (OCPI `DisplayText`). No markup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DisplayText {
    /// ISO 639-1 language code, e.g. `en`.
    #[serde(deserialize_with = "de::string::<_, 2>")]
    #[schema(max_length = 2, example = "en")]
    pub language: String,
    /// The text shown to a person.
    #[serde(deserialize_with = "de::string::<_, 512>")]
    #[schema(max_length = 512)]
    pub text: String,
}

/// An amount of money, excluding and (when known) including VAT, in the currency of the
/// surrounding object (OCPI `Price`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Price {
    pub excl_vat: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incl_vat: Option<f64>,
}

/// Who operates, sub-operates or owns a location (OCPI `BusinessDetails`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BusinessDetails {
    #[serde(deserialize_with = "de::string::<_, 100>")]
    #[schema(max_length = 100)]
    pub name: String,
    /// The company's website: an http(s) URL.
    #[serde(
        default,
        deserialize_with = "de::opt_url",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(max_length = 255)]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<Image>,
}

/// A picture of a charger, a location or a logo (OCPI `Image`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Image {
    /// Where the full-size image is: an http(s) URL.
    #[serde(deserialize_with = "de::url")]
    #[schema(max_length = 255)]
    pub url: String,
    /// Where a thumbnail (at most 128 × 128 pixels) is.
    #[serde(
        default,
        deserialize_with = "de::opt_url",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(max_length = 255)]
    pub thumbnail: Option<String>,
    pub category: ImageCategory,
    /// The image format as a file extension, e.g. `jpeg` or `png` (OCPI `type`).
    #[serde(rename = "type", deserialize_with = "de::ci_string::<_, 4>")]
    #[schema(max_length = 4, example = "jpeg")]
    pub image_type: String,
    /// Width in pixels (at most 5 digits).
    #[serde(
        default,
        deserialize_with = "de::opt_int5",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(maximum = 99999)]
    pub width: Option<u32>,
    /// Height in pixels (at most 5 digits).
    #[serde(
        default,
        deserialize_with = "de::opt_int5",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(maximum = 99999)]
    pub height: Option<u32>,
}
