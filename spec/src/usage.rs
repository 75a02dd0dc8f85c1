//! Usage records and status changes: what a node publishes about use, without personal data.
