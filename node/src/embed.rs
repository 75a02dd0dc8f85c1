//! The node as a library, for a program that embeds a node's log and HTTP edge beside its own
//! (the aggregator does: its own log is a node of kind `aggregator` in `DIR/node`). What such a
//! program needs of a node, and nothing else:
//!
//! - make and open a node directory ([`init`], [`open`], [`open_as`], [`Home`]), and refuse to serve
//!   a log that contradicts what it signed ([`RefusesToSign`]);
//! - serve the node API beside its own routes ([`http`]: the app, the edges, the listener, the
//!   caller extractor and the error mapping), run the checkpoint ticker and sign the final
//!   checkpoint ([`checkpoint_loop`], [`sign_final`]);
//! - write locations, statuses and sessions to its log with the node's own rules
//!   ([`publish`]);
//! - the node's configuration types, tokens, TLS, area set and OpenAPI document, and its
//!   SQLite opener for the program's own store ([`sqlite`]);
//! - the one bounded outgoing HTTP client ([`outgoing`]).
//!
//! A façade: everything here is re-exported from the modules that implement it, which are
//! private to the crate.

pub use crate::commands::{
    EXIT_REFUSES_TO_SIGN, OpenNode, RefusesToSign, checkpoint_loop, init, init_tracing, open,
    open_as, refuses_to_sign, sign_final, unix_now,
};
pub use crate::domain::areas::NodeAreas;
pub use crate::home::{Home, create_new, read_secret, write_atomic};
pub use crate::tls::server_config as tls_server_config;

/// The node's configuration types, as an embedding program's own configuration uses them.
pub mod config {
    pub use crate::config::{Kind, Limits, LogFormat, Origin, TlsConfig, parse_duration};
}

/// The node's HTTP edge: its app (with extra routes), edges, listener, caller and errors.
pub mod http {
    pub use crate::http::listen::Listener;
    pub use crate::http::{
        ApiError, AppState, Caller, Edges, OpenExtra, Register, RouteTable, app, app_with,
    };
}

/// Writing to the embedded node's log through the node's own rules.
pub mod publish {
    pub use crate::commands::policy;
    pub use crate::domain::Error;
    pub use crate::domain::import::{BatchOptions, put_locations};
    pub use crate::domain::records::{MAX_BATCH, Policy, current_body, post_sessions, post_status};
    pub use crate::store::Store;
}

/// The one way to open and migrate a SQLite database (WAL, `foreign_keys`, numbered
/// forward-only migrations in `PRAGMA user_version`), for an embedding program's own store.
pub mod sqlite {
    pub use crate::store::sqlite::{
        BUSY_TIMEOUT, MigrateError, migrate, open_reader, open_writer, version,
    };
}

/// Access tokens: the one signer, the node's issuer, and the issuers a node trusts.
pub mod tokens {
    pub use crate::tokens::{AccessToken, Issuer, SCOPES, key_id, sign_access_token};
    pub use crate::trust::{IssuerConfig, LocalIssuer};
}

/// The node's OpenAPI document, to extend with an embedding program's own routes.
pub mod openapi {
    pub use crate::openapi::{complete, document, document_json};
}

/// The one bounded outgoing HTTP client (see the node's `outgoing` module): total or idle
/// timeouts, body and line bounds, redirect limits, one origin or any.
pub mod outgoing {
    pub use crate::outgoing::{
        Bounds, Client, Error, Lines, Method, Reach, Request, Response, StatusCode, Timeout,
        header, install_crypto_provider, redact,
    };
}
