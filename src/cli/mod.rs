//! One module per subcommand; each defines its `clap` arguments and a `run` function.

pub mod accuracy;
pub mod bench;
pub mod bitstream;
pub mod cache;
pub mod compile;
pub mod disasm;
pub mod gen_model;
pub mod inspect;
pub mod reference;
pub mod rtl;
pub mod run;
pub mod simulate;
pub mod sweep;
pub mod text;
