//! One column's vector memory: `L` lanes of 32 bits a cycle through two read ports and one write
//! port, at any lane address (not only multiples of `L`).
//!
//! The words are spread over `L` banks by address: word `w` is in bank `w mod L` at row
//! `w div L`, so `L` consecutive words starting anywhere are in `L` different banks. For a start
//! `s = hi * L + lo`, bank `b` holds lane `(b - lo) mod L` of the window at row `hi + [b < lo]`,
//! and lane `j` of the result is bank `(lo + j) mod L`'s word: a rotation by `lo`, taken one cycle
//! later when the banks answer. A write is the same mapping in the other direction, with one
//! enable per lane (a vector's last beat may be partial).
//!
//! [`ReadPort`] is the read side: the bank rows for an address, and the rotation of the banks'
//! words into lanes a cycle later. The core owns the banks (every column's, flattened into one
//! list so that no signal needs two indices, which rust-hdl's Verilog generator cannot resolve)
//! and does the write side's mapping itself. Two read ports are two copies of the banks, both
//! written by the one write port: `ADD` and `SILUMUL` read two operands a cycle. On an FPGA that
//! doubles the block RAM of the vector memory, which is what a second read port costs there.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;

use super::many;
use super::sram::ADDR_BITS;

/// Bits of a lane-within-window index.
pub const LO_BITS: usize = 8;
/// The most lanes a port moves a cycle (a power of two; the literal `16` in the index
/// expressions below is this).
pub const MAX_LANES: usize = 16;

/// One read port: `L` lanes of `W` bits from any address.
#[derive(LogicBlock)]
pub struct ReadPort<const W: usize> {
    pub clock: Signal<In, Clock>,
    pub addr: Signal<In, Bits<ADDR_BITS>>,
    /// The `L` words at the `addr` of the previous edge.
    pub data: Vec<Signal<Out, Bits<W>>>,
    /// The banks' row and data, driven by the owner (the banks are shared with the write port).
    pub bank_row: Vec<Signal<Out, Bits<ADDR_BITS>>>,
    pub bank_data: Vec<Signal<In, Bits<W>>>,
    lo_q: DFF<Bits<LO_BITS>>,
    hi: Signal<Local, Bits<ADDR_BITS>>,
    lo: Signal<Local, Bits<LO_BITS>>,
    shift: Constant<Bits<ADDR_BITS>>,
    lo_mask: Constant<Bits<ADDR_BITS>>,
    /// `rot[j * 16 + b] = (b - j) mod L`: the window offset at which bank `b` holds lane `j`.
    rot: Vec<Constant<Bits<LO_BITS>>>,
    /// `idx[b] = b`.
    idx: Vec<Constant<Bits<LO_BITS>>>,
    _lanes: usize,
}

fn rotations(lanes: usize) -> Vec<Constant<Bits<LO_BITS>>> {
    // Flattened with a literal stride of MAX_LANES: an hdl_gen index may use loop variables and
    // literals only.
    (0..lanes * MAX_LANES)
        .map(|k| {
            let (j, b) = (k / MAX_LANES, (k % MAX_LANES) % lanes);
            Constant::new((((b + lanes - j) % lanes) as u64).into())
        })
        .collect()
}

fn log2(l: usize) -> usize {
    assert!(l.is_power_of_two() && l <= MAX_LANES, "lanes {l}");
    l.trailing_zeros() as usize
}

impl<const W: usize> ReadPort<W> {
    pub fn new(lanes: usize) -> Self {
        let k = log2(lanes);
        Self {
            clock: Default::default(),
            addr: Default::default(),
            data: many(lanes),
            bank_row: many(lanes),
            bank_data: many(lanes),
            lo_q: Default::default(),
            hi: Default::default(),
            lo: Default::default(),
            shift: Constant::new((k as u64).into()),
            lo_mask: Constant::new(((lanes as u64) - 1).into()),
            rot: rotations(lanes),
            idx: (0..lanes)
                .map(|b| Constant::new((b as u64).into()))
                .collect(),
            _lanes: lanes,
        }
    }
}

impl<const W: usize> Logic for ReadPort<W> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, lo_q);
        self.hi.next = self.addr.val() >> self.shift.val();
        self.lo.next = bit_cast::<LO_BITS, ADDR_BITS>(self.addr.val() & self.lo_mask.val());
        self.lo_q.d.next = self.lo.val();
        for b in 0..self._lanes {
            if self.lo.val() > self.idx[b].val() {
                self.bank_row[b].next = self.hi.val() + 1;
            } else {
                self.bank_row[b].next = self.hi.val();
            }
        }
        for j in 0..self._lanes {
            self.data[j].next = 0.into();
            for b in 0..self._lanes {
                if self.lo_q.q.val() == self.rot[j * 16 + b].val() {
                    self.data[j].next = self.bank_data[b].val();
                }
            }
        }
    }
}
