//! OCPI 2.2.1 Locations and Tariffs data model, with OCPI's field names, required fields and
//! length limits enforced while parsing.
//!
//! - Required fields are required; a missing one is an error naming its JSON path.
//! - `string(n)` fields keep the Rust type `String` and are bounded to `n` characters.
//! - An explicit `null` means the same as an absent field: `None`, or an empty list.
//! - Serialising omits `None` and empty lists.
//! - Unknown fields are ignored, never stored or served, and reported as warnings by [`parse`].
//! - Personal data (`publish_allowed_to`) is split off with
//!   [`Location::take_publish_allowed_to`].
//! - evfed's additions live in one `evfed` member per object (see [`crate::ext`]).
//!
//! The answers of the `/ocpi` surface around these objects (envelope, versions, credentials)
//! are in `surface`.

mod common;
pub(crate) mod de;
mod energy;
mod enums;
mod geo;
mod hours;
mod location;
mod parse;
mod surface;
mod tariff;

pub use common::{BusinessDetails, DisplayText, Image, Price};
pub use energy::{EnergyMix, EnergySource, EnvironmentalImpact};
pub use enums::{
    Capability, ConnectorFormat, ConnectorType, DayOfWeek, EnergySourceCategory,
    EnvironmentalImpactCategory, Facility, ImageCategory, ParkingRestriction, ParkingType,
    PowerType, ReservationRestrictionType, Status, TariffDimensionType, TariffType, TokenType,
};
pub use geo::{AdditionalGeoLocation, GeoError, GeoLocation};
pub use hours::{ExceptionalPeriod, Hours, RegularHours};
pub use location::{Connector, Evse, Location, PublishTokenType, StatusSchedule};
pub use parse::{ParseError, Parsed, Warning, WarningCode, parse, parse_value};
pub use surface::{
    Credentials, CredentialsRole, Endpoint, InterfaceRole, KeptCdr, KeptCdrLocation, OcpiAck,
    OcpiErrorResponse, OcpiResponse, Version, VersionDetails,
};
pub use tariff::{PriceComponent, Tariff, TariffElement, TariffRestrictions};
