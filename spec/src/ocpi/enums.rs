//! OCPI 2.2.1 enumerations of the Locations, Tariffs and Tokens modules, spelled exactly as OCPI
//! writes them on the wire. An unknown value is an error: OCPI enumerations are closed.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The status of an EVSE (OCPI `Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Able to start a new charging session.
    Available,
    /// Cannot be used: something (e.g. a parked car) blocks it.
    Blocked,
    /// In use.
    Charging,
    /// Not available for charging (e.g. not yet in service, or switched off on purpose).
    Inoperative,
    /// Broken or in need of repair.
    #[serde(rename = "OUTOFORDER")]
    OutOfOrder,
    /// Planned, not yet operational.
    Planned,
    /// Discontinued or removed.
    Removed,
    /// Reserved for a particular EV driver.
    Reserved,
    /// No status information available (also used when offline).
    Unknown,
}

impl Status {
    /// Every status, in declaration order.
    pub const ALL: [Status; 9] = [
        Status::Available,
        Status::Blocked,
        Status::Charging,
        Status::Inoperative,
        Status::OutOfOrder,
        Status::Planned,
        Status::Removed,
        Status::Reserved,
        Status::Unknown,
    ];

    /// The name as OCPI writes it (the serialised form), e.g. `OUTOFORDER`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Available => "AVAILABLE",
            Status::Blocked => "BLOCKED",
            Status::Charging => "CHARGING",
            Status::Inoperative => "INOPERATIVE",
            Status::OutOfOrder => "OUTOFORDER",
            Status::Planned => "PLANNED",
            Status::Removed => "REMOVED",
            Status::Reserved => "RESERVED",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// What an EVSE can do (OCPI `Capability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Capability {
    ChargingProfileCapable,
    ChargingPreferencesCapable,
    ChipCardSupport,
    ContactlessCardSupport,
    CreditCardPayable,
    DebitCardPayable,
    PedTerminal,
    RemoteStartStopCapable,
    Reservable,
    RfidReader,
    StartSessionConnectorRequired,
    TokenGroupCapable,
    UnlockCapable,
}

/// The socket or plug standard of a connector (OCPI `ConnectorType`). Spelled as OCPI 2.2.1
/// spells it, including the lower-case parts of the IEC 60309-2 values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum ConnectorType {
    /// CHAdeMO, DC.
    #[serde(rename = "CHADEMO")]
    Chademo,
    /// ChaoJi, DC (CHAdeMO and GB/T harmonised).
    #[serde(rename = "CHAOJI")]
    Chaoji,
    /// Domestic type A, NEMA 1-15, 2 pins.
    #[serde(rename = "DOMESTIC_A")]
    DomesticA,
    /// Domestic type B, NEMA 5-15, 3 pins.
    #[serde(rename = "DOMESTIC_B")]
    DomesticB,
    /// Domestic type C, CEE 7/17, 2 pins.
    #[serde(rename = "DOMESTIC_C")]
    DomesticC,
    /// Domestic type D, 3 pins.
    #[serde(rename = "DOMESTIC_D")]
    DomesticD,
    /// Domestic type E, CEE 7/5, 3 pins.
    #[serde(rename = "DOMESTIC_E")]
    DomesticE,
    /// Domestic type F, CEE 7/4 (Schuko), 3 pins.
    #[serde(rename = "DOMESTIC_F")]
    DomesticF,
    /// Domestic type G, BS 1363 (the UK three-pin plug).
    #[serde(rename = "DOMESTIC_G")]
    DomesticG,
    /// Domestic type H, SI-32, 3 pins.
    #[serde(rename = "DOMESTIC_H")]
    DomesticH,
    /// Domestic type I, AS 3112, 3 pins.
    #[serde(rename = "DOMESTIC_I")]
    DomesticI,
    /// Domestic type J, SEV 1011, 3 pins.
    #[serde(rename = "DOMESTIC_J")]
    DomesticJ,
    /// Domestic type K, DS 60884-2-D1, 3 pins.
    #[serde(rename = "DOMESTIC_K")]
    DomesticK,
    /// Domestic type L, CEI 23-16-VII, 3 pins.
    #[serde(rename = "DOMESTIC_L")]
    DomesticL,
    /// Domestic type M, BS 546, 3 pins.
    #[serde(rename = "DOMESTIC_M")]
    DomesticM,
    /// Domestic type N, NBR 14136, 3 pins.
    #[serde(rename = "DOMESTIC_N")]
    DomesticN,
    /// Domestic type O, TIS 166-2549, 3 pins.
    #[serde(rename = "DOMESTIC_O")]
    DomesticO,
    /// Guobiao GB/T 20234.2 AC.
    #[serde(rename = "GBT_AC")]
    GbtAc,
    /// Guobiao GB/T 20234.3 DC.
    #[serde(rename = "GBT_DC")]
    GbtDc,
    /// IEC 60309-2 industrial connector, single phase, 16 A (usually blue).
    #[serde(rename = "IEC_60309_2_single_16")]
    Iec60309Single16,
    /// IEC 60309-2 industrial connector, three phases, 16 A (usually red).
    #[serde(rename = "IEC_60309_2_three_16")]
    Iec60309Three16,
    /// IEC 60309-2 industrial connector, three phases, 32 A (usually red).
    #[serde(rename = "IEC_60309_2_three_32")]
    Iec60309Three32,
    /// IEC 60309-2 industrial connector, three phases, 64 A (usually red).
    #[serde(rename = "IEC_60309_2_three_64")]
    Iec60309Three64,
    /// IEC 62196 Type 1, "SAE J1772".
    #[serde(rename = "IEC_62196_T1")]
    Iec62196T1,
    /// Combo Type 1 (CCS1), DC.
    #[serde(rename = "IEC_62196_T1_COMBO")]
    Iec62196T1Combo,
    /// IEC 62196 Type 2, "Mennekes".
    #[serde(rename = "IEC_62196_T2")]
    Iec62196T2,
    /// Combo Type 2 (CCS2), DC.
    #[serde(rename = "IEC_62196_T2_COMBO")]
    Iec62196T2Combo,
    /// IEC 62196 Type 3A.
    #[serde(rename = "IEC_62196_T3A")]
    Iec62196T3A,
    /// IEC 62196 Type 3C, "Scame".
    #[serde(rename = "IEC_62196_T3C")]
    Iec62196T3C,
    /// NEMA 5-20, 3 pins.
    #[serde(rename = "NEMA_5_20")]
    Nema5x20,
    /// NEMA 6-30, 3 pins.
    #[serde(rename = "NEMA_6_30")]
    Nema6x30,
    /// NEMA 6-50, 3 pins.
    #[serde(rename = "NEMA_6_50")]
    Nema6x50,
    /// NEMA 10-30, 3 pins.
    #[serde(rename = "NEMA_10_30")]
    Nema10x30,
    /// NEMA 10-50, 3 pins.
    #[serde(rename = "NEMA_10_50")]
    Nema10x50,
    /// NEMA 14-30, 3 pins, 30 A.
    #[serde(rename = "NEMA_14_30")]
    Nema14x30,
    /// NEMA 14-50, 3 pins, 50 A.
    #[serde(rename = "NEMA_14_50")]
    Nema14x50,
    /// On-board bottom-up pantograph, typically for buses.
    #[serde(rename = "PANTOGRAPH_BOTTOM_UP")]
    PantographBottomUp,
    /// Off-board top-down pantograph, typically for buses.
    #[serde(rename = "PANTOGRAPH_TOP_DOWN")]
    PantographTopDown,
    /// Tesla "Roadster" connector (round, 4 pins).
    #[serde(rename = "TESLA_R")]
    TeslaR,
    /// Tesla "Model S" connector (oval, 5 pins).
    #[serde(rename = "TESLA_S")]
    TeslaS,
}

/// Whether a connector is a socket (bring your own cable) or has a cable attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectorFormat {
    Socket,
    Cable,
}

/// The kind of power a connector delivers (OCPI `PowerType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum PowerType {
    #[serde(rename = "AC_1_PHASE")]
    Ac1Phase,
    /// Two phases, only two of the three available phases connected.
    #[serde(rename = "AC_2_PHASE")]
    Ac2Phase,
    /// Two phases using the split-phase system.
    #[serde(rename = "AC_2_PHASE_SPLIT")]
    Ac2PhaseSplit,
    #[serde(rename = "AC_3_PHASE")]
    Ac3Phase,
    #[serde(rename = "DC")]
    Dc,
}

/// The general type of parking at a location (OCPI `ParkingType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ParkingType {
    AlongMotorway,
    ParkingGarage,
    ParkingLot,
    OnDriveway,
    OnStreet,
    UndergroundGarage,
}

/// Who may park at an EVSE (OCPI `ParkingRestriction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ParkingRestriction {
    EvOnly,
    Plugged,
    Disabled,
    Customers,
    Motorcycles,
}

/// A facility a location belongs to or is next to (OCPI `Facility`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Facility {
    Hotel,
    Restaurant,
    Cafe,
    Mall,
    Supermarket,
    Sport,
    RecreationArea,
    Nature,
    Museum,
    BikeSharing,
    BusStop,
    TaxiStand,
    TramStop,
    MetroStation,
    TrainStation,
    Airport,
    ParkingLot,
    CarpoolParking,
    FuelStation,
    Wifi,
}

/// What an image shows (OCPI `ImageCategory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ImageCategory {
    Charger,
    Entrance,
    Location,
    Network,
    Operator,
    Other,
    Owner,
}

/// A kind of energy source in an energy mix (OCPI `EnergySourceCategory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EnergySourceCategory {
    Nuclear,
    GeneralFossil,
    Coal,
    Gas,
    GeneralGreen,
    Solar,
    Wind,
    Water,
}

/// A kind of environmental impact of an energy mix (OCPI `EnvironmentalImpactCategory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EnvironmentalImpactCategory {
    /// Produced nuclear waste, in grams per kWh.
    NuclearWaste,
    /// Exhausted carbon dioxide, in grams per kWh.
    CarbonDioxide,
}

/// The kind of token (OCPI Tokens module `TokenType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TokenType {
    AdHocUser,
    AppUser,
    Other,
    Rfid,
}

/// When a tariff applies (OCPI `TariffType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TariffType {
    /// Paid ad hoc at the charge point, e.g. by debit or credit card.
    AdHocPayment,
    /// Charging preference CHEAP.
    ProfileCheap,
    /// Charging preference FAST.
    ProfileFast,
    /// Charging preference GREEN.
    ProfileGreen,
    /// RFID without a preference, or charging preference REGULAR.
    Regular,
}

/// What a price component charges for (OCPI `TariffDimensionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TariffDimensionType {
    /// Per kWh.
    Energy,
    /// A flat fee per session.
    Flat,
    /// Per hour parked without charging.
    ParkingTime,
    /// Per hour charging.
    Time,
}

/// A day of the week in tariff restrictions (OCPI `DayOfWeek`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DayOfWeek {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

/// Which part of a reservation a tariff element prices (OCPI `ReservationRestrictionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationRestrictionType {
    /// The reservation itself, up to the start of charging.
    Reservation,
    /// A reservation that expired without a session.
    ReservationExpires,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json<T: Serialize>(v: T) -> String {
        serde_json::to_string(&v).unwrap()
    }

    #[test]
    fn spellings_that_case_rules_would_get_wrong() {
        assert_eq!(json(Status::OutOfOrder), "\"OUTOFORDER\"");
        assert_eq!(json(PowerType::Ac2PhaseSplit), "\"AC_2_PHASE_SPLIT\"");
        assert_eq!(
            json(ConnectorType::Iec60309Single16),
            "\"IEC_60309_2_single_16\""
        );
        assert_eq!(json(ConnectorType::Nema14x50), "\"NEMA_14_50\"");
        assert_eq!(json(ConnectorType::Iec62196T3A), "\"IEC_62196_T3A\"");
        assert_eq!(json(Capability::RfidReader), "\"RFID_READER\"");
        assert_eq!(json(TariffType::ProfileCheap), "\"PROFILE_CHEAP\"");
        let t: ConnectorType = serde_json::from_str("\"IEC_60309_2_three_64\"").unwrap();
        assert_eq!(t, ConnectorType::Iec60309Three64);
        assert!(serde_json::from_str::<ConnectorType>("\"IEC_60309_2_SINGLE_16\"").is_err());
    }

    #[test]
    fn status_names_are_the_serialised_names() {
        for s in Status::ALL {
            assert_eq!(json(s), format!("\"{}\"", s.as_str()));
        }
    }
}
