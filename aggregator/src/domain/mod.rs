//! What the London view means to its readers, without HTTP or SQL: where each location is,
//! figures by area with small-number suppression, trends, where more chargepoints are needed,
//! the map's compact points, the live status feed and the London view's page cache.

pub mod areas;
pub mod live;
pub mod map;
pub mod needs;
pub mod pages;
pub mod places;
pub mod privacy;
pub mod tariffs;
pub mod trends;
