//! The one error type of the numerics spec.
//!
//! Every spec function that can be handed data it cannot represent (a shape beyond the proven
//! accumulator bounds, a non-finite weight, an empty vector) returns one of these instead of
//! panicking or silently wrapping, and the message carries the offending value.

use thiserror::Error;

/// Why a numerics spec function refused its input.
#[derive(Clone, Debug, Error, PartialEq)]
pub enum NumericsError {
    /// A reduction length beyond the bound the accumulator proof covers.
    #[error("{what} = {value} exceeds the supported maximum {max} (accumulator bound)")]
    TooLong {
        what: &'static str,
        value: usize,
        max: usize,
    },
    /// A weight group size the format does not define.
    #[error("group size {group} is not supported (expected one of {supported:?})")]
    UnsupportedGroup {
        group: usize,
        supported: &'static [usize],
    },
    /// A dimension that must be a multiple of the group size is not.
    #[error("{what} = {value} is not a multiple of the group size {group}")]
    NotGroupMultiple {
        what: &'static str,
        value: usize,
        group: usize,
    },
    /// Two slices that must agree in length do not.
    #[error("{what}: expected length {expected}, got {actual}")]
    LengthMismatch {
        what: &'static str,
        expected: usize,
        actual: usize,
    },
    /// A float input that is NaN or infinite (the value is printed as f64).
    #[error("{what}[{index}] = {value} is not finite")]
    NonFinite {
        what: &'static str,
        index: usize,
        value: f64,
    },
    /// A float parameter outside its domain (for example a non-positive RMSNorm epsilon).
    #[error("{what} = {value} is out of range: {expected}")]
    OutOfRange {
        what: &'static str,
        value: f64,
        expected: &'static str,
    },
    /// A reduction over an empty vector (argmax, softmax, RMSNorm).
    #[error("{what} of an empty vector is undefined")]
    Empty { what: &'static str },
    /// A quantised weight outside the symmetric range of its format.
    #[error("quantised weight {value} at index {index} is outside [-{qmax}, {qmax}]")]
    WeightOutOfRange { index: usize, value: i8, qmax: i8 },
}
