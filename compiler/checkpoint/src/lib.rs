//! `tokenfab-checkpoint`: Hugging Face checkpoint import and the seeded model generator.
//!
//! Being written in this session.
