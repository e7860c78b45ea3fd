//! `tokenfab-sim`: the cycle-level simulator of the decode accelerator.
//!
//! It will execute program artifacts defined by `tokenfab-isa`: functional units, instruction
//! queues, the DRAM and on-chip memory model, the energy model and traces. It must never depend on
//! the compiler; it only executes programs. Empty until the compile-and-simulate and timing work
//! (issues 3 and 4) lands; unit tests will live beside the code.
