//! The RTL blocks, one `LogicBlock` a file. Each is tested under Verilator against the numerics
//! spec in `hw/tests/`.

pub mod argmax;
pub mod decoder;
pub mod exp;
pub mod group_dot;
pub mod interp;
pub mod lane_round;
pub mod quant;
pub mod reciprocal;
pub mod rms;
pub mod rope;
pub mod row_acc;
pub mod score;
pub mod silu;
pub mod softmax;
pub mod vf_add;
pub mod vf_mul;
