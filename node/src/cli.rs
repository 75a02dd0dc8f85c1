//! The commands of the `evfed-node` binary, as `main.rs` runs them: one function per
//! subcommand and the types of their arguments and reports. The library pull (`cli::pull`) is
//! what `pull ocpi` runs, open to the node's tests and benchmarks against a store they opened.
//!
//! A façade: everything here is re-exported from the modules that implement it, which are
//! private to the crate.

pub use crate::commands::{
    EXIT_REFUSES_TO_SIGN, Imported, PullArgs, RefusesToSign, ServeOptions, Verification, backup,
    import, init, init_tracing, issue_token, next_steps, pull_ocpi, refuses_to_sign, restore,
    rotate_key, serve, verify,
};
pub use crate::config::{Config, Kind, LogFormat, Origin, parse_duration};
pub use crate::openapi::document_json;
pub use crate::store::heads_of;

/// `import csv`: the formats, the area filter and the options of an import.
pub mod ingest {
    pub use crate::ingest::{Area, Format, ImportOptions, NCR_DEFAULT_PARTY};
}

/// `ocpi register|list|revoke`, in process or through the serving node.
pub mod ocpi {
    pub use crate::commands::ocpi::{Done, list, register, revoke};
}

/// `pull ocpi` as a library: one pull of an OCPI sender's modules into an opened store.
pub mod pull {
    pub use crate::commands::policy;
    pub use crate::domain::records::Policy;
    pub use crate::pull::{
        ClientOptions, Deviation, FetchError, Module, ModuleReport, Options, Outcome, PullError,
        Report, Source, Stop, run,
    };
    pub use crate::store::Store;
}
