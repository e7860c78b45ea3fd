//! `tokenfab-golden`: CPU references that define what a correct decode step is.
//!
//! Being written in this session.
