//! `tokenfab-hw`: the accelerator RTL, written in rust-hdl 0.46 and emitted as Verilog.
//!
//! It owns the design (instruction decode from the `tokenfab-isa` table, the matrix engine's
//! arithmetic, the vector unit's; DMA, buffers and control registers are still to come, issue 5),
//! its Verilog emission ([`emit`]), the lint and validation of that Verilog ([`lint`]) and the
//! provisioning of the EDA tools it needs ([`eda`]). It must never depend on the compiler. The
//! blocks reproduce `tokenfab_isa::numerics` bit for bit; `hw/tests/` builds each emitted block
//! with Verilator and compares it with the numerics functions on thousands of random and edge
//! vectors.

pub mod blocks;
pub mod eda;
pub mod emit;
pub mod fpga;
pub mod harness;
pub mod lint;
pub mod system;
pub mod top;
