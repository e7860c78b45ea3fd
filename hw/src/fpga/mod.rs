//! The FPGA side of the accelerator (issue 6): boards as data ([`board`]), the board shell's RTL
//! (UART, host-protocol engine, SDR SDRAM controller, memory arbiter, reset synchroniser), its
//! Verilator harness with a C++ model of the SDRAM chip, and the bitstream flow (Yosys
//! `synth_ecp5`, nextpnr-ecp5, ecppack).
//!
//! The shell is built around the accelerator core's ports (module `tokenfab_core`: a CSR bus and
//! a burst memory port, see `docs/host-protocol.md`); until the core lands, the board top holds a
//! stand-in register file on the CSR bus and nothing on the core's memory port.

pub mod arbiter;
pub mod board;
pub mod flow;
pub mod host;
pub mod protocol;
pub mod sdram;
pub mod shell;
pub mod sim;
pub mod uart;
