//! OCPI 2.2.1 Locations and Tariffs data model.
