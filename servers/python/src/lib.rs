//! `oxserve-microservice`'s library: its command line ([`cli`]) and the embedded-Python host ([`host`]), a
//! [`oxserve_runtime::component::Component`] over the user's object.

pub mod cli;
pub mod host;

/// The binary's identity (`--help`).
pub const SERVER: oxserve_runtime::Server = oxserve_runtime::Server {
    name: "oxserve-microservice",
    about: "Serves a user's Python class with seldon-core-microservice's command line, from an embedded CPython",
    parameters: &[oxserve_runtime::config::ANY_PARAMETER],
};
