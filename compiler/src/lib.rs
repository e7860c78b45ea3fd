//! `tokenfab-compiler`: lowers a checkpoint's decode step to an accelerator program.
//!
//! It will own the graph IR and the pipeline of named passes (import, quantise, fuse, tile and
//! lay out, plan memory, schedule, emit) that turns a checkpoint read by `tokenfab-checkpoint`
//! (the `checkpoint/` crate beside this one) into a program artifact of `tokenfab-isa`. Empty until
//! the compile-and-simulate work (issue 3) lands.
