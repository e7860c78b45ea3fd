//! `tokenfab-runtime`: the host runtime that drives every backend through one `Device` trait.
//!
//! It will own the `Device` trait and its backends (golden CPU, cycle-level simulator, RTL under
//! Verilator, FPGA board), sessions, the KV cache, sampling and tokenisation. Empty until the
//! compile-and-simulate work (issue 3) lands.
