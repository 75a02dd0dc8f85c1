//! The parsers of remote and operator input, for the fuzz targets: the CSV importer (`ingest`,
//! to a [`ingest::Sink`] of the caller's) and the repairs a pull makes to what an OCPI sender
//! sends (`normalise`).
//!
//! A façade: everything here is re-exported from the modules that implement it, which are
//! private to the crate.

/// The CSV importer: `prepare` reads and checks a file, `write` hands its locations to a sink.
pub mod ingest {
    pub use crate::domain::areas::NodeAreas;
    pub use crate::ingest::{Area, Format, ImportOptions, Prepared, Sink, prepare, write};
}

/// The repairs of pulled and pushed OCPI objects.
pub mod normalise {
    pub use crate::pull::normalise::{
        Context, Normalised, connector_object, evse_object, location, status, tariff,
    };
}
