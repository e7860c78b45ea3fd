//! The runtime's one error type: every variant is one line carrying the offending value.

use thiserror::Error;

/// Why a device, a session or a check refused or failed.
#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("sim: {0}")]
    Sim(#[from] tokenfab_sim::SimError),

    #[error("golden: {0}")]
    Golden(#[from] tokenfab_golden::GoldenError),

    #[error("{0}")]
    Numerics(#[from] tokenfab_isa::numerics::NumericsError),

    #[error(transparent)]
    Program(#[from] tokenfab_isa::ProgramError),

    #[error(transparent)]
    Rtl(#[from] crate::rtl::RtlError),

    #[error("{device}: {count} columns in one step: a step carries 1 to {max}")]
    ColumnCount {
        device: String,
        count: usize,
        max: usize,
    },

    #[error("{device}: column {column}: token {token} is outside the vocabulary of {vocab}")]
    Token {
        device: String,
        column: usize,
        token: u32,
        vocab: usize,
    },

    #[error("{device}: column {column}: slot {seq} does not exist (the device has {slots} slots)")]
    Slot {
        device: String,
        column: usize,
        seq: u32,
        slots: usize,
    },

    #[error(
        "{device}: column {column}: position {pos} is beyond the context of {context} positions"
    )]
    Context {
        device: String,
        column: usize,
        pos: u32,
        context: usize,
    },

    #[error("{device}: column {column}: position {pos} skips ahead of slot {seq}, which holds {len} positions")]
    Skip {
        device: String,
        column: usize,
        pos: u32,
        seq: u32,
        len: usize,
    },

    /// Two devices of a checked pair disagreed (boxed: the details are large and rare).
    #[error("{0}")]
    Mismatch(Box<Mismatch>),

    /// Two devices of a checked pair that do not describe the same machine.
    #[error("{what} differ between {a} ({x}) and {b} ({y})")]
    Incompatible {
        what: &'static str,
        a: String,
        x: usize,
        b: String,
        y: usize,
    },

    /// A program's manifest that does not describe what the golden reference needs.
    #[error("program manifest: `{field}` = {value:?}: {expected}")]
    Manifest {
        field: &'static str,
        value: String,
        expected: &'static str,
    },

    /// The model directory is not the one the program was compiled from.
    #[error("{dir}: config.json has sha256 {found}, the program was compiled from {expected} (model `{model}`)")]
    ModelMismatch {
        dir: String,
        model: String,
        found: String,
        expected: String,
    },

    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },

    #[error("the prompt is empty: at least one token id is needed")]
    EmptyPrompt,

    #[error("{positions} positions (prompt {prompt} + {steps} steps) exceed the device's context of {context}")]
    TooLong {
        positions: usize,
        prompt: usize,
        steps: usize,
        context: usize,
    },

    #[error("sampling temperature {0} must be a finite number >= 0")]
    Temperature(f64),
}

/// Where two devices of a checked run first disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub step: usize,
    pub column: usize,
    pub pos: u32,
    /// The name of device A and of device B.
    pub a: String,
    pub b: String,
    pub kind: MismatchKind,
}

/// What differed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MismatchKind {
    /// Logit `index` is `x` on device A and `y` on device B; `differing` of `len` indices
    /// differ in this column.
    Logits {
        index: usize,
        x: i32,
        y: i32,
        differing: usize,
        len: usize,
    },
    /// Equal logits but different next tokens, or outputs of different shapes.
    Output {
        what: &'static str,
        x: String,
        y: String,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Mismatch {
            step,
            column,
            pos,
            a,
            b,
            kind,
        } = self;
        write!(f, "step {step}, column {column} (position {pos}): ")?;
        match kind {
            MismatchKind::Logits {
                index,
                x,
                y,
                differing,
                len,
            } => write!(
                f,
                "logits differ first at index {index} ({a}: {x}, {b}: {y}); {differing} of {len} indices differ"
            ),
            MismatchKind::Output { what, x, y } => write!(f, "{what} differ ({a}: {x}, {b}: {y})"),
        }
    }
}
