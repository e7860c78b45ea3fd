//! The board shell: everything on the board around the accelerator core. A power-on reset
//! (held for 256 clocks after the PLL locked, synchronous to the clock), the UART, the
//! host-protocol engine (master of the core's register bus), the memory arbiter (port `a` for the
//! core, `b` for the host), the SDR SDRAM controller (8-byte beats in, the chip's 16-bit words
//! out), and an instance of module `tokenfab_core` ([`CoreSlot`]): the accelerator core built for
//! a preset, or [`CsrStandIn`] where the shell is built alone.
//!
//! [`Design`] gathers the files: the shell's Verilog (module `tokenfab_shell`, `dq` split into
//! out, enable and in, the form the Verilator harness drives), module `tokenfab_core` (the
//! accelerator core for a preset, or the stand-in), and the board's top module (`tokenfab_board`:
//! the pins of [`crate::fpga::board::Board::pin_map`], the PLL, the `dq` tristate and the SDRAM
//! clock, the inverse of the system clock).

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;
use tokenfab_isa::config::AccelConfig;

use crate::fpga::arbiter::MemArbiter;
use crate::fpga::board::Board;
use crate::fpga::host::HostEngine;
use crate::fpga::pll::{Pll, PllError};
use crate::fpga::sdram::SdramController;
use crate::fpga::uart::{divisor, UartRx, UartTx};

/// The stand-in for the core, for a shell built without one (the shell's own tests and the
/// smallest board's flow): module `tokenfab_core` with the core's ports. Register 0 reads
/// [`STANDIN_ID`], registers 1..=4 are read/write scratch registers, every other address reads 0;
/// its memory port never requests.
#[derive(LogicBlock)]
pub struct CsrStandIn {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub csr_addr: Signal<In, Bits<8>>,
    pub csr_write: Signal<In, Bit>,
    pub csr_wdata: Signal<In, Bits<32>>,
    pub csr_rdata: Signal<Out, Bits<32>>,
    pub mem: CoreMemPort,
    id: Constant<Bits<32>>,
    r1: DFF<Bits<32>>,
    r2: DFF<Bits<32>>,
    r3: DFF<Bits<32>>,
    r4: DFF<Bits<32>>,
}

/// The core's memory port, from the core's side (`mem_*` in `docs/host-protocol.md`).
#[derive(LogicInterface, Default)]
pub struct CoreMemPort {
    pub req_valid: Signal<Out, Bit>,
    pub req_ready: Signal<In, Bit>,
    pub req_write: Signal<Out, Bit>,
    pub req_addr: Signal<Out, Bits<32>>,
    pub req_beats: Signal<Out, Bits<8>>,
    pub wvalid: Signal<Out, Bit>,
    pub wready: Signal<In, Bit>,
    pub wdata: Signal<Out, Bits<64>>,
    pub wstrb: Signal<Out, Bits<8>>,
    pub rvalid: Signal<In, Bit>,
    pub rdata: Signal<In, Bits<64>>,
}

/// What register 0 of the stand-in reads ("CSR0" in ASCII, little-endian).
pub const STANDIN_ID: u32 = 0x3052_5343;

impl Default for CsrStandIn {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            csr_addr: Default::default(),
            csr_write: Default::default(),
            csr_wdata: Default::default(),
            csr_rdata: Default::default(),
            mem: Default::default(),
            id: Constant::new(u64::from(STANDIN_ID).to_bits()),
            r1: Default::default(),
            r2: Default::default(),
            r3: Default::default(),
            r4: Default::default(),
        }
    }
}

impl Logic for CsrStandIn {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, r1, r2, r3, r4);
        self.mem.req_valid.next = false;
        self.mem.req_write.next = false;
        self.mem.req_addr.next = 0.into();
        self.mem.req_beats.next = 0.into();
        self.mem.wvalid.next = false;
        self.mem.wdata.next = 0.into();
        self.mem.wstrb.next = 0.into();
        self.csr_rdata.next = 0.into();
        if self.csr_addr.val() == 0 {
            self.csr_rdata.next = self.id.val();
        }
        if self.csr_addr.val() == 1 {
            self.csr_rdata.next = self.r1.q.val();
        }
        if self.csr_addr.val() == 2 {
            self.csr_rdata.next = self.r2.q.val();
        }
        if self.csr_addr.val() == 3 {
            self.csr_rdata.next = self.r3.q.val();
        }
        if self.csr_addr.val() == 4 {
            self.csr_rdata.next = self.r4.q.val();
        }
        if self.csr_write.val() {
            if self.csr_addr.val() == 1 {
                self.r1.d.next = self.csr_wdata.val();
            }
            if self.csr_addr.val() == 2 {
                self.r2.d.next = self.csr_wdata.val();
            }
            if self.csr_addr.val() == 3 {
                self.r3.d.next = self.csr_wdata.val();
            }
            if self.csr_addr.val() == 4 {
                self.r4.d.next = self.csr_wdata.val();
            }
        }
        if self.reset.val() {
            self.r1.d.next = 0.into();
            self.r2.d.next = 0.into();
            self.r3.d.next = 0.into();
            self.r4.d.next = 0.into();
        }
    }
}

/// The shell's instance of module `tokenfab_core`, whose Verilog comes from its own file: the
/// accelerator core for a preset (`tokenfab_hw::top::verilog`, the same text `tokenfab rtl emit`
/// writes) or [`CsrStandIn`] ([`standin_verilog`]).
#[derive(LogicBlock, Default)]
pub struct CoreSlot {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub csr_addr: Signal<In, Bits<8>>,
    pub csr_write: Signal<In, Bit>,
    pub csr_wdata: Signal<In, Bits<32>>,
    pub csr_rdata: Signal<Out, Bits<32>>,
    pub mem: CoreMemPort,
}

/// The core's module name.
pub const CORE_MODULE: &str = "tokenfab_core";

impl Logic for CoreSlot {
    fn update(&mut self) {}

    fn connect(&mut self) {
        self.csr_rdata.connect();
        self.mem.req_valid.connect();
        self.mem.req_write.connect();
        self.mem.req_addr.connect();
        self.mem.req_beats.connect();
        self.mem.wvalid.connect();
        self.mem.wdata.connect();
        self.mem.wstrb.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Wrapper(Wrapper {
            code: format!(
                "{CORE_MODULE} core(\n\
    .clock(clock), .reset(reset),\n\
    .csr_addr(csr_addr), .csr_write(csr_write), .csr_wdata(csr_wdata), .csr_rdata(csr_rdata),\n\
    .mem_req_valid(mem$req_valid), .mem_req_ready(mem$req_ready),\n\
    .mem_req_write(mem$req_write), .mem_req_addr(mem$req_addr), .mem_req_beats(mem$req_beats),\n\
    .mem_wvalid(mem$wvalid), .mem_wready(mem$wready), .mem_wdata(mem$wdata),\n\
    .mem_wstrb(mem$wstrb), .mem_rvalid(mem$rvalid), .mem_rdata(mem$rdata));\n"
            ),
            cores: String::new(),
        })
    }
}

/// The stand-in's Verilog as module [`CORE_MODULE`].
pub fn standin_verilog() -> String {
    let mut s = CsrStandIn::default();
    s.connect_all();
    rename(&generate_verilog(&s), CORE_MODULE)
        // The stand-in's memory port is named as the core's (`mem_req_valid`, not
        // `mem$req_valid`).
        .replace("mem$", "mem_")
}

fn rename(raw: &str, module: &str) -> String {
    raw.replace("module top(", &format!("module {module}("))
        .replace("top$", &format!("{module}$"))
}

/// The shell.
#[derive(LogicBlock)]
pub struct Shell {
    pub clock: Signal<In, Clock>,
    /// The PLL's lock: the shell is held in reset until it is high (tied high where there is
    /// no PLL, and under Verilator).
    pub locked: Signal<In, Bit>,
    pub uart_rx: Signal<In, Bit>,
    pub uart_tx: Signal<Out, Bit>,
    pub led: Signal<Out, Bits<8>>,
    pub sdram_cke: Signal<Out, Bit>,
    pub sdram_cs_n: Signal<Out, Bit>,
    pub sdram_ras_n: Signal<Out, Bit>,
    pub sdram_cas_n: Signal<Out, Bit>,
    pub sdram_we_n: Signal<Out, Bit>,
    pub sdram_ba: Signal<Out, Bits<2>>,
    pub sdram_a: Signal<Out, Bits<13>>,
    pub sdram_dqm: Signal<Out, Bits<2>>,
    pub sdram_dq_o: Signal<Out, Bits<16>>,
    pub sdram_dq_oe: Signal<Out, Bit>,
    pub sdram_dq_i: Signal<In, Bits<16>>,
    led_invert: Constant<Bits<8>>,
    por: DFF<Bits<9>>,
    reset: Signal<Local, Bit>,
    uart_in: UartRx,
    uart_out: UartTx,
    host: HostEngine,
    arbiter: MemArbiter,
    sdram: SdramController,
    core: CoreSlot,
}

impl Shell {
    /// The shell for `board` clocked at `clock_hz`, with the UART at `baud` (the board's own
    /// baud when `None`).
    pub fn new(board: &Board, clock_hz: f64, baud: Option<u32>) -> Self {
        let baud = baud.unwrap_or(board.uart.baud);
        let div = divisor(clock_hz, f64::from(baud));
        let c = board.sdram.timing.cycles(clock_hz, board.sdram.cas_latency);
        Self {
            clock: Default::default(),
            locked: Default::default(),
            uart_rx: Default::default(),
            uart_tx: Default::default(),
            led: Default::default(),
            sdram_cke: Default::default(),
            sdram_cs_n: Default::default(),
            sdram_ras_n: Default::default(),
            sdram_cas_n: Default::default(),
            sdram_we_n: Default::default(),
            sdram_ba: Default::default(),
            sdram_a: Default::default(),
            sdram_dqm: Default::default(),
            sdram_dq_o: Default::default(),
            sdram_dq_oe: Default::default(),
            sdram_dq_i: Default::default(),
            led_invert: Constant::new(if board.leds.active_low { 0xFF_u64 } else { 0 }.to_bits()),
            por: Default::default(),
            reset: Default::default(),
            uart_in: UartRx::new(div),
            uart_out: UartTx::new(div),
            host: Default::default(),
            arbiter: Default::default(),
            sdram: SdramController::new(&c, board.sdram.columns, board.sdram.rows),
            core: Default::default(),
        }
    }
}

impl Logic for Shell {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, por);
        clock!(self, clock, uart_in, uart_out, host, arbiter, sdram, core);
        // Power-on reset: the flip-flops start at 0 after configuration; reset holds until the
        // counter's top bit sets, 256 clocks after the PLL locked.
        self.reset.next = !self.por.q.val().get_bit(8);
        if !self.por.q.val().get_bit(8) {
            self.por.d.next = self.por.q.val() + 1;
        }
        if !self.locked.val() {
            self.por.d.next = 0.into();
        }
        self.uart_in.reset.next = self.reset.val();
        self.uart_out.reset.next = self.reset.val();
        self.host.reset.next = self.reset.val();
        self.arbiter.reset.next = self.reset.val();
        self.sdram.reset.next = self.reset.val();
        self.core.reset.next = self.reset.val();
        // UART.
        self.uart_in.rx.next = self.uart_rx.val();
        self.uart_tx.next = self.uart_out.tx.val();
        self.host.rx_data.next = self.uart_in.data.val();
        self.host.rx_valid.next = self.uart_in.valid.val();
        self.uart_out.data.next = self.host.tx_data.val();
        self.uart_out.valid.next = self.host.tx_valid.val();
        self.host.tx_ready.next = self.uart_out.ready.val();
        // CSR bus: the host engine is its master.
        self.core.csr_addr.next = self.host.csr_addr.val();
        self.core.csr_write.next = self.host.csr_write.val();
        self.core.csr_wdata.next = self.host.csr_wdata.val();
        self.host.csr_rdata.next = self.core.csr_rdata.val();
        // Memory: the core (port `a`) and the host engine (port `b`) share the arbiter.
        self.arbiter.a.req_valid.next = self.core.mem.req_valid.val();
        self.core.mem.req_ready.next = self.arbiter.a.req_ready.val();
        self.arbiter.a.req_write.next = self.core.mem.req_write.val();
        self.arbiter.a.req_addr.next = self.core.mem.req_addr.val();
        self.arbiter.a.req_beats.next = self.core.mem.req_beats.val();
        self.arbiter.a.wvalid.next = self.core.mem.wvalid.val();
        self.core.mem.wready.next = self.arbiter.a.wready.val();
        self.arbiter.a.wdata.next = self.core.mem.wdata.val();
        self.arbiter.a.wstrb.next = self.core.mem.wstrb.val();
        self.core.mem.rvalid.next = self.arbiter.a.rvalid.val();
        self.core.mem.rdata.next = self.arbiter.a.rdata.val();
        self.arbiter.b.req_valid.next = self.host.mem_req_valid.val();
        self.host.mem_req_ready.next = self.arbiter.b.req_ready.val();
        self.arbiter.b.req_write.next = self.host.mem_req_write.val();
        self.arbiter.b.req_addr.next = self.host.mem_req_addr.val();
        self.arbiter.b.req_beats.next = self.host.mem_req_beats.val();
        self.arbiter.b.wvalid.next = self.host.mem_wvalid.val();
        self.host.mem_wready.next = self.arbiter.b.wready.val();
        self.arbiter.b.wdata.next = self.host.mem_wdata.val();
        self.arbiter.b.wstrb.next = self.host.mem_wstrb.val();
        self.host.mem_rvalid.next = self.arbiter.b.rvalid.val();
        self.host.mem_rdata.next = self.arbiter.b.rdata.val();
        self.sdram.req_valid.next = self.arbiter.req_valid.val();
        self.arbiter.req_ready.next = self.sdram.req_ready.val();
        self.sdram.req_write.next = self.arbiter.req_write.val();
        self.sdram.req_addr.next = self.arbiter.req_addr.val();
        self.sdram.req_beats.next = self.arbiter.req_beats.val();
        self.sdram.wvalid.next = self.arbiter.wvalid.val();
        self.arbiter.wready.next = self.sdram.wready.val();
        self.sdram.wdata.next = self.arbiter.wdata.val();
        self.sdram.wstrb.next = self.arbiter.wstrb.val();
        self.arbiter.rvalid.next = self.sdram.rvalid.val();
        self.arbiter.rdata.next = self.sdram.rdata.val();
        // The chip.
        self.sdram_cke.next = self.sdram.sdram_cke.val();
        self.sdram_cs_n.next = self.sdram.sdram_cs_n.val();
        self.sdram_ras_n.next = self.sdram.sdram_ras_n.val();
        self.sdram_cas_n.next = self.sdram.sdram_cas_n.val();
        self.sdram_we_n.next = self.sdram.sdram_we_n.val();
        self.sdram_ba.next = self.sdram.sdram_ba.val();
        self.sdram_a.next = self.sdram.sdram_a.val();
        self.sdram_dqm.next = self.sdram.sdram_dqm.val();
        self.sdram_dq_o.next = self.sdram.sdram_dq_o.val();
        self.sdram_dq_oe.next = self.sdram.sdram_dq_oe.val();
        self.sdram.sdram_dq_i.next = self.sdram_dq_i.val();
        // LEDs: 0 = out of reset, 1 = SDRAM initialised, 2 = a host frame in progress.
        self.led.next = (bit_cast::<8, 1>(self.host.busy.val().into()) << 2
            | bit_cast::<8, 1>(self.sdram.init_done.val().into()) << 1
            | bit_cast::<8, 1>((!self.reset.val()).into()))
            ^ self.led_invert.val();
    }
}

/// Verilator warnings waived on the shell beyond [`crate::lint::WAIVED`], with the reason each
/// is harmless.
pub const SHELL_WAIVED: &[(&str, &str)] = &[
    (
        "UNSIGNED",
        "a timing count that is 0 at the board's clock (tWR at 25 MHz) makes `since >= 0`; the \
         comparison is right at every clock and Yosys folds it away",
    ),
    (
        "UNUSEDSIGNAL",
        "rust-hdl's generated modules carry bits nothing reads (the upper bits of counters that \
         are compared to constants, the stand-in's unused memory inputs)",
    ),
    (
        "UNUSEDPARAM",
        "rust-hdl declares every state of an enum as a localparam in each module using it",
    ),
];

/// The `-Wno-...` arguments of [`crate::lint::WAIVED`] and [`SHELL_WAIVED`].
pub fn waiver_args() -> Vec<String> {
    let mut v = crate::lint::waiver_args();
    v.extend(SHELL_WAIVED.iter().map(|(w, _)| format!("-Wno-{w}")));
    v
}

/// The shell's module name.
pub const SHELL_MODULE: &str = "tokenfab_shell";
/// The board top's module name.
pub const BOARD_MODULE: &str = "tokenfab_board";

/// Errors of putting a design together.
#[derive(Debug, thiserror::Error)]
pub enum DesignError {
    #[error(transparent)]
    Core(#[from] crate::top::CoreError),
    #[error("board {board}, preset {preset}: {source}")]
    Pll {
        board: String,
        preset: String,
        #[source]
        source: PllError,
    },
}

/// What goes on the board: the shell for `board` around the core of `core` (the preset), or
/// around [`CsrStandIn`] when `core` is `None`. The system clock is the preset's `clock_hz`
/// (made by the PLL from the board's oscillator), or the board's clock without a core.
#[derive(Clone, Debug)]
pub struct Design {
    pub board: Board,
    pub core: Option<AccelConfig>,
}

impl Design {
    pub fn new(board: Board, core: Option<AccelConfig>) -> Self {
        Design { board, core }
    }

    /// The system clock, Hz.
    pub fn clock_hz(&self) -> f64 {
        self.core
            .as_ref()
            .map_or(self.board.clock.hz, |c| c.clock_hz)
    }

    /// The preset's name, or `standin`.
    pub fn preset(&self) -> String {
        self.core
            .as_ref()
            .map_or_else(|| "standin".into(), |c| c.name.clone())
    }

    /// The PLL between the oscillator and the system clock (`None` when they are the same).
    pub fn pll(&self) -> Result<Option<Pll>, DesignError> {
        let hz = self.clock_hz();
        if (hz - self.board.clock.hz).abs() < 1.0 {
            return Ok(None);
        }
        Pll::new(self.board.clock.hz, hz)
            .map(Some)
            .map_err(|source| DesignError::Pll {
                board: self.board.name.clone(),
                preset: self.preset(),
                source,
            })
    }

    /// The SDRAM timing in clocks of the system clock.
    pub fn sdram_cycles(&self) -> crate::fpga::board::Cycles {
        self.board
            .sdram
            .timing
            .cycles(self.clock_hz(), self.board.sdram.cas_latency)
    }

    /// The shell's Verilog (module [`SHELL_MODULE`]; `dq` split into out, enable and in, the
    /// form the Verilator harness drives), with the UART at `baud` (the board's when `None`).
    pub fn shell_verilog(&self, baud: Option<u32>) -> String {
        let mut shell = Shell::new(&self.board, self.clock_hz(), baud);
        shell.connect_all();
        rename(&generate_verilog(&shell), SHELL_MODULE)
    }

    /// Module [`CORE_MODULE`]'s Verilog: the core for the preset, or the stand-in.
    pub fn core_verilog(&self) -> Result<String, DesignError> {
        match &self.core {
            Some(c) => Ok(crate::top::verilog(c)?.text),
            None => Ok(standin_verilog()),
        }
    }

    /// The board's top module (`tokenfab_board`): pins named as in the `.lpf`, the PLL, the
    /// `dq` tristate and the SDRAM clock (the inverse of the system clock).
    pub fn board_top_verilog(&self) -> Result<String, DesignError> {
        let board = &self.board;
        let leds = board.leds.pins.len();
        let (pll, note) = match self.pll()? {
            Some(p) => (p.verilog(), ""),
            None => (
                "    assign clk_sys = clk;\n    assign pll_locked = 1'b1;\n".to_string(),
                "    // No PLL: the system clock is the board's oscillator.\n",
            ),
        };
        Ok(format!(
            "// generated by tokenfab bitstream --board {name} --config {preset}; do not edit\n\
module {BOARD_MODULE}(\n\
    input wire clk,\n\
    input wire uart_rx,\n\
    output wire uart_tx,\n\
    output wire [{led_hi}:0] led,\n\
    output wire sdram_clk,\n\
    output wire sdram_cke,\n\
    output wire sdram_cs_n,\n\
    output wire sdram_ras_n,\n\
    output wire sdram_cas_n,\n\
    output wire sdram_we_n,\n\
    output wire [1:0] sdram_ba,\n\
    output wire [12:0] sdram_a,\n\
    output wire [1:0] sdram_dqm,\n\
    inout wire [15:0] sdram_dq\n\
);\n\
    wire clk_sys;\n\
    wire pll_locked;\n\
    wire [7:0] led_all;\n\
    wire [15:0] dq_o;\n\
    wire dq_oe;\n\
{note}{pll}\
    // The chip samples half a clock after the controller's registered outputs change.\n\
    assign sdram_clk = ~clk_sys;\n\
    assign sdram_dq = dq_oe ? dq_o : 16'bz;\n\
    assign led = led_all[{led_hi}:0];\n\
    {SHELL_MODULE} shell(\n\
        .clock(clk_sys), .locked(pll_locked), .uart_rx(uart_rx), .uart_tx(uart_tx), .led(led_all),\n\
        .sdram_cke(sdram_cke), .sdram_cs_n(sdram_cs_n), .sdram_ras_n(sdram_ras_n),\n\
        .sdram_cas_n(sdram_cas_n), .sdram_we_n(sdram_we_n), .sdram_ba(sdram_ba),\n\
        .sdram_a(sdram_a), .sdram_dqm(sdram_dqm), .sdram_dq_o(dq_o), .sdram_dq_oe(dq_oe),\n\
        .sdram_dq_i(sdram_dq)\n\
    );\n\
endmodule\n",
            name = board.name,
            preset = self.preset(),
            led_hi = leds - 1,
        ))
    }
}
