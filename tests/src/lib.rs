//! `tokenfab-tests`: end-to-end tests, written once and run on every available backend.
//!
//! The tests themselves live in `tests/tests/*.rs`; this library holds their shared helpers
//! (paths to the shipped model and fixtures, building the `tokenfab` binary's arguments).
