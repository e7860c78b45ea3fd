//! `tokenfab-hw`: the accelerator RTL, written in rust-hdl 0.46 and emitted as Verilog.
//!
//! It will own the design (instruction decode from the `tokenfab-isa` table, DMA, matrix engine,
//! vector unit, buffers, control registers), its Verilog emission, the Verilator harness and the
//! FPGA flow. It must never depend on the compiler. Empty until the RTL work (issue 5) lands.
