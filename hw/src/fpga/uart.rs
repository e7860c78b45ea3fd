//! An 8N1 UART: one start bit, eight data bits least significant first, one stop bit, no parity.
//! The bit time is `divisor` clocks (board clock / baud, rounded to nearest, see
//! [`divisor`]); both directions share it.
//!
//! The receiver passes `rx` through two flip-flops (the line is asynchronous), waits for a falling
//! edge, checks the start bit is still low half a bit later, then samples each data bit in the
//! middle of its bit time. A stop bit that reads low is a framing error: the byte is dropped and
//! the receiver waits for the line to go high again before looking for the next start bit.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;

/// Bits of the bit-time counters (divisors up to 65535: 115200 baud up to a 7.5 GHz clock).
pub const DIV_BITS: usize = 16;

/// The bit time in clocks for `clock_hz` and `baud`, rounded to the nearest clock.
pub fn divisor(clock_hz: f64, baud: f64) -> u64 {
    (clock_hz / baud).round().max(4.0) as u64
}

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
enum RxState {
    Idle,
    Start,
    Data,
    Stop,
    Break,
}

/// The receiver: `valid` pulses for one clock with `data` when a byte has arrived.
#[derive(LogicBlock)]
pub struct UartRx {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub rx: Signal<In, Bit>,
    pub data: Signal<Out, Bits<8>>,
    pub valid: Signal<Out, Bit>,
    divisor: Constant<Bits<DIV_BITS>>,
    half: Constant<Bits<DIV_BITS>>,
    sync0: DFF<Bit>,
    sync1: DFF<Bit>,
    state: DFF<RxState>,
    timer: DFF<Bits<DIV_BITS>>,
    bits: DFF<Bits<4>>,
    shift: DFF<Bits<8>>,
    out_valid: DFF<Bit>,
}

impl UartRx {
    pub fn new(divisor: u64) -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            rx: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            divisor: Constant::new((divisor - 1).to_bits()),
            half: Constant::new((divisor / 2 - 1).to_bits()),
            sync0: Default::default(),
            sync1: Default::default(),
            state: Default::default(),
            timer: Default::default(),
            bits: Default::default(),
            shift: Default::default(),
            out_valid: Default::default(),
        }
    }
}

impl Logic for UartRx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, sync0, sync1, state, timer, bits, shift, out_valid);
        self.sync0.d.next = self.rx.val();
        self.sync1.d.next = self.sync0.q.val();
        self.out_valid.d.next = false;
        self.data.next = self.shift.q.val();
        self.valid.next = self.out_valid.q.val();
        if self.timer.q.val() != 0 {
            self.timer.d.next = self.timer.q.val() - 1;
        }
        match self.state.q.val() {
            RxState::Idle => {
                if !self.sync1.q.val() {
                    self.state.d.next = RxState::Start;
                    self.timer.d.next = self.half.val();
                }
            }
            RxState::Start => {
                if self.timer.q.val() == 0 {
                    if self.sync1.q.val() {
                        // A glitch, not a start bit.
                        self.state.d.next = RxState::Idle;
                    } else {
                        self.state.d.next = RxState::Data;
                        self.timer.d.next = self.divisor.val();
                        self.bits.d.next = 0.into();
                    }
                }
            }
            RxState::Data => {
                if self.timer.q.val() == 0 {
                    self.shift.d.next = self.shift.q.val() >> 1;
                    if self.sync1.q.val() {
                        self.shift.d.next = (self.shift.q.val() >> 1) | 0x80;
                    }
                    self.timer.d.next = self.divisor.val();
                    self.bits.d.next = self.bits.q.val() + 1;
                    if self.bits.q.val() == 7 {
                        self.state.d.next = RxState::Stop;
                    }
                }
            }
            RxState::Stop => {
                if self.timer.q.val() == 0 {
                    if self.sync1.q.val() {
                        self.out_valid.d.next = true;
                        self.state.d.next = RxState::Idle;
                    } else {
                        self.state.d.next = RxState::Break;
                    }
                }
            }
            RxState::Break => {
                if self.sync1.q.val() {
                    self.state.d.next = RxState::Idle;
                }
            }
            _ => {
                self.state.d.next = RxState::Idle;
            }
        }
        if self.reset.val() {
            self.state.d.next = RxState::Idle;
            self.out_valid.d.next = false;
        }
    }
}

/// The transmitter: `ready` is high while it can take a byte; `valid` with `data` starts one.
#[derive(LogicBlock)]
pub struct UartTx {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub data: Signal<In, Bits<8>>,
    pub valid: Signal<In, Bit>,
    pub ready: Signal<Out, Bit>,
    pub tx: Signal<Out, Bit>,
    divisor: Constant<Bits<DIV_BITS>>,
    /// Start bit, 8 data bits, stop bit, shifted out from bit 0. `bits_left` counts the ten bits
    /// and one more step that ends the stop bit, so `ready` rises only after a whole frame.
    frame: DFF<Bits<10>>,
    bits_left: DFF<Bits<4>>,
    timer: DFF<Bits<DIV_BITS>>,
    line: DFF<Bit>,
}

impl UartTx {
    pub fn new(divisor: u64) -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            ready: Default::default(),
            tx: Default::default(),
            divisor: Constant::new((divisor - 1).to_bits()),
            frame: Default::default(),
            bits_left: Default::default(),
            timer: Default::default(),
            line: Default::default(),
        }
    }
}

impl Logic for UartTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, frame, bits_left, timer, line);
        self.ready.next = self.bits_left.q.val() == 0;
        // The line idles high; `line` holds the inverse so that its reset value 0 is idle.
        self.tx.next = !self.line.q.val();
        if self.bits_left.q.val() == 0 {
            self.line.d.next = false;
            if self.valid.val() {
                // Stop bit (1), data, start bit (0).
                self.frame.d.next = (bit_cast::<10, 8>(self.data.val()) << 1) | 0x200;
                self.bits_left.d.next = 11.into();
                self.timer.d.next = 0.into();
            }
        } else if self.timer.q.val() == 0 {
            if self.bits_left.q.val() == 1 {
                // The stop bit has lasted its bit time.
                self.bits_left.d.next = 0.into();
                self.line.d.next = false;
            } else {
                self.line.d.next = !self.frame.q.val().get_bit(0);
                self.frame.d.next = self.frame.q.val() >> 1;
                self.timer.d.next = self.divisor.val();
                self.bits_left.d.next = self.bits_left.q.val() - 1;
            }
        } else {
            self.timer.d.next = self.timer.q.val() - 1;
        }
        if self.reset.val() {
            self.bits_left.d.next = 0.into();
            self.line.d.next = false;
        }
    }
}
