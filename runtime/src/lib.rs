//! `tokenfab-runtime`: the host runtime that drives every backend through one [`Device`] trait.
//!
//! It owns the trait and its backends — [`GoldenDevice`] (golden's quantised reference, one KV
//! cache per slot), [`SimDevice`] (a compiled program on the functional simulator) and
//! [`RtlDevice`] (the program on the core's RTL under Verilator, with the simulator's DRAM
//! model behind its memory port; [`rtl`]) and [`FpgaDevice`] (the host protocol over a serial
//! port to a board, or to the Verilated board top; [`fpga`]) — plus
//! [`Session`] (chunked multi-column prefill, greedy or sampled generation with a per-token
//! callback) and [`Checked`] (two devices in lockstep, logits compared exactly, the first
//! mismatch an error).
//! It must never depend on the compiler except in tests; it runs programs, it does not make
//! them. Tokenisation stays in the CLI for now.
//!
//! Tests: `tests/session.rs` drives `Session` and `Checked` with a small fake device whose
//! logits depend on each slot's whole history (chunking, rollback, sampling, error cases);
//! `tests/golden_device.rs` checks `GoldenDevice` against golden's own decoding;
//! `tests/sim_vs_golden.rs` compiles generated models (the compiler is a dev-dependency only)
//! and checks the simulator against golden bit for bit through `Checked`, including
//! multi-column prefill, two slots batched in one step, and a corrupted weight byte that
//! `Checked` must catch. The RTL backend's end-to-end tests are the root `tests/rtl_backend.rs`
//! (hand-written programs against the functional simulator, the CLI on a compiled model).

pub mod checked;
pub mod device;
pub mod error;
pub mod fpga;
pub mod golden_device;
pub mod rtl;
pub mod session;
pub mod sim_device;

pub use checked::Checked;
pub use device::{Column, Device, Limits, SlotLengths, StepOutput};
pub use error::{Mismatch, MismatchKind, RuntimeError};
pub use fpga::{FpgaDevice, FpgaOptions};
pub use golden_device::GoldenDevice;
pub use rtl::{RtlDevice, RtlOptions};
pub use session::{Fed, Sampler, Session, SessionOutput};
pub use sim_device::SimDevice;
