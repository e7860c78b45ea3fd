//! Tests of the DRAM model: one per timing constraint, the scheduler, efficiency, the fast path
//! and the standard files.

mod constraints;
mod efficiency;
mod incremental;
mod scheduler;
mod standards;
