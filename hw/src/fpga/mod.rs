//! The FPGA side of the accelerator (issue 6): boards as data ([`board`]), the board shell's RTL
//! (UART, host-protocol engine, SDR SDRAM controller, memory arbiter, reset synchroniser), its
//! Verilator harness with a C++ model of the SDRAM chip, and the bitstream flow (Yosys
//! `synth_ecp5`, nextpnr-ecp5, ecppack).
//!
//! The shell is built around the accelerator core's ports (module `tokenfab_core`: a CSR bus and
//! a burst memory port, see `docs/host-protocol.md`): [`shell::Design`] puts the core of a preset
//! (or, for the shell's own tests, a stand-in register file) into the board top, clocked at the
//! preset's clock by an ECP5 PLL ([`pll`]).

pub mod arbiter;
pub mod board;
pub mod flow;
pub mod host;
pub mod pll;
pub mod protocol;
pub mod sdram;
pub mod shell;
pub mod sim;
pub mod uart;
