//! The aggregator's outgoing HTTP: the node's one bounded client
//! (`evfed_node::embed::outgoing`: connect and total or idle timeouts, body and line bounds,
//! redirect limits), saying `User-Agent: evfed-aggregator/VERSION`. The harvester, the
//! followers of members' checkpoints and the OAuth client make theirs here.
//!
//! Architecture Invariant: the aggregator names no HTTP client library; every request it makes
//! to another process goes through a client made by [`client`].

pub use evfed_node::embed::outgoing::{
    Bounds, Client, Error, Method, StatusCode, Timeout, header, install_crypto_provider, redact,
};

/// What every request of the aggregator says it is.
pub const USER_AGENT: &str = concat!("evfed-aggregator/", env!("CARGO_PKG_VERSION"));

/// A client bounded by `bounds`, named as the aggregator.
pub fn client(bounds: Bounds) -> Result<Client, Error> {
    Client::with_user_agent(bounds, USER_AGENT)
}
