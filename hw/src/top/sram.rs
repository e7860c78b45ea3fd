//! The on-chip SRAM primitive: one synchronous read port and one write port on one clock, of a
//! depth chosen when the design is built (from `AccelConfig`), with `W`-bit words.
//!
//! rust-hdl's own `RAM` widget fixes its depth as a const generic address width, which would make
//! every memory size of every preset a separate monomorphisation of the whole core. This block
//! is the one piece of hand-written Verilog the core's memories need, kept to the six lines an
//! FPGA tool infers block RAM from (Yosys maps it to ECP5 `DP16KD`s; Verilator models it as an
//! array): address ports are [`ADDR_BITS`] wide and only their low `ceil(log2(depth))` bits are
//! used; an address at or beyond the depth is a program error `Program::check` rejects.
//! A read returns the word at `read_addr` one clock edge later; a read and a write of the same
//! word in one cycle return the old word (read-before-write, as ECP5's `DP16KD` in its
//! `READBEFOREWRITE` mode).

use rust_hdl_core::prelude::*;

/// Width of every address port: the ISA's on-chip address fields are 20 bits.
pub const ADDR_BITS: usize = 20;

/// A `depth x W` synchronous SRAM.
#[derive(LogicBlock)]
pub struct Sram<const W: usize> {
    pub clock: Signal<In, Clock>,
    pub read_addr: Signal<In, Bits<ADDR_BITS>>,
    /// The word at the `read_addr` of the previous clock edge.
    pub read_data: Signal<Out, Bits<W>>,
    pub write_enable: Signal<In, Bit>,
    pub write_addr: Signal<In, Bits<ADDR_BITS>>,
    pub write_data: Signal<In, Bits<W>>,
    _depth: usize,
}

impl<const W: usize> Sram<W> {
    /// A memory of `depth` words (at least 2).
    pub fn new(depth: usize) -> Self {
        assert!((2..=1 << ADDR_BITS).contains(&depth), "SRAM depth {depth}");
        Self {
            clock: Default::default(),
            read_addr: Default::default(),
            read_data: Default::default(),
            write_enable: Default::default(),
            write_addr: Default::default(),
            write_data: Default::default(),
            _depth: depth,
        }
    }

    /// Address bits actually decoded: `ceil(log2(depth))`.
    pub fn used_addr_bits(&self) -> usize {
        (usize::BITS - (self._depth - 1).leading_zeros()) as usize
    }
}

impl<const W: usize> Logic for Sram<W> {
    fn update(&mut self) {
        // Not simulated in rust-hdl: the design is simulated by Verilator from `hdl()`.
    }

    fn connect(&mut self) {
        self.read_data.connect();
    }

    fn hdl(&self) -> Verilog {
        let a = self.used_addr_bits();
        Verilog::Custom(format!(
            "reg [{w}:0] mem [0:{last}];\n\
             always @(posedge clock) begin\n\
             \x20   read_data <= mem[read_addr[{a1}:0]];\n\
             \x20   if (write_enable) mem[write_addr[{a1}:0]] <= write_data;\n\
             end\n",
            w = W - 1,
            last = (1usize << a) - 1,
            a1 = a - 1,
        ))
    }
}
