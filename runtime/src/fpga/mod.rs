//! The FPGA backend: a compiled program on the accelerator core in the board top, driven over
//! the host protocol (`docs/host-protocol.md`) through a [`Link`]: a real board's serial port
//! ([`SerialLink`]) or the same board top under Verilator with its SDRAM chip model
//! ([`SimLink`]).
//!
//! **Loading.** [`FpgaDevice::new`] pings the board, checks that register `ID` reads the core's
//! `"TFAB"` (a board running the shell alone answers the stand-in's `"CSR0"`), writes the DRAM
//! image at its base and the instruction words just past the memory map (the same place as the
//! RTL backend: `rtl::program_region`) by WRITE_MEM blocks, and has the core copy the
//! instructions into its instruction memory (`CMD_LOAD_PROGRAM`). The map must fit the board's
//! SDRAM. The bitstream must have been built for the program's preset; nothing on the board says
//! which preset it was built for, so a mismatch shows up as wrong results (`--check` catches
//! them).
//!
//! **A step.** Per column `TOK`, `POS`, `SEQ`, then `COLUMNS` and `CMD_LAUNCH`; `STATUS` is polled
//! (the link idles between polls, longer each time) until not busy; then `CYCLES`, each column's
//! `OUT`, and each column's logits read from the logits region by READ_MEM, as the RTL backend
//! reads them from its DRAM model. A stop with an error code is the RTL backend's error
//! ([`RtlError`]), naming the instruction at `PC`.
//!
//! **Reset.** The KV cache is not cleared on the board (that would be megabytes over the UART):
//! a program reads only positions `0..=POS` of a slot, which this step or an earlier one wrote.

pub mod link;
pub mod serial;

use std::time::{Duration, Instant};

use thiserror::Error;
use tokenfab_hw::fpga::board::Board;
use tokenfab_hw::fpga::shell::Design;
use tokenfab_hw::top::core::IMEM_WORDS;
use tokenfab_hw::top::{csr, status};
use tokenfab_isa::instr::Instr;
use tokenfab_isa::program::{Manifest, Program, Region};

use crate::device::{Column, Device, Limits, SlotLengths, StepOutput};
use crate::error::RuntimeError;
use crate::rtl::{program_region, RtlError};

pub use link::{HostClient, Link, LinkError, SimLink, SIM_UART_DIVISOR};
pub use serial::{OpenError, SerialLink};

/// Errors of the FPGA backend.
#[derive(Debug, Error)]
pub enum FpgaError {
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The core (or the program) stopped: the RTL backend's errors, naming the instruction.
    #[error(transparent)]
    Rtl(#[from] RtlError),
    #[error("{link}: register ID reads {id:#010x}, not the core's {want:#010x}{hint}")]
    NotCore {
        link: String,
        id: u32,
        want: u32,
        hint: &'static str,
    },
    #[error(transparent)]
    Program(#[from] tokenfab_isa::ProgramError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("the program's memory map and instructions end at {end:#x}, past the board's {bytes:#x} bytes of SDRAM")]
    TooBig { end: u64, bytes: u64 },
}

impl From<FpgaError> for RuntimeError {
    fn from(e: FpgaError) -> Self {
        match e {
            FpgaError::Rtl(r) => RuntimeError::Rtl(r),
            FpgaError::Program(p) => RuntimeError::Program(p),
            // The runtime's error type has no FPGA variant yet (runtime/src/error.rs); a link
            // failure travels as an I/O error naming the link.
            other => RuntimeError::Io {
                path: "fpga".into(),
                source: std::io::Error::other(other.to_string()),
            },
        }
    }
}

/// Choices of the FPGA backend that are not part of the program.
#[derive(Clone, Debug)]
pub struct FpgaOptions {
    /// Bytes of SDRAM on the board.
    pub memory_bytes: u64,
    /// The longest a step (or the program load) may take, in the board's system clocks.
    pub max_cycles: u64,
    /// The board's system clock, Hz (for the poll interval's length on a real board).
    pub clock_hz: f64,
}

/// What one launch did.
#[derive(Clone, Debug, PartialEq)]
pub struct FpgaLaunch {
    pub columns: Vec<Column>,
    /// The core's own count (`CYCLES`): from `CMD_LAUNCH` to `HALT`.
    pub cycles: u64,
    /// Wall time of the step, the link's traffic included.
    pub wall: Duration,
}

/// A compiled program on a board (real or simulated).
pub struct FpgaDevice {
    manifest: Manifest,
    instrs: Vec<Instr>,
    host: HostClient,
    program: Region,
    options: FpgaOptions,
    lengths: SlotLengths,
    /// Every launch so far.
    pub launches: Vec<FpgaLaunch>,
    /// Wall time of loading the image and the instructions, and the bytes that took.
    pub load_time: Duration,
    pub load_bytes: u64,
}

impl FpgaOptions {
    /// The options for `board` running at `clock_hz`.
    pub fn for_board(board: &Board, clock_hz: f64) -> Self {
        FpgaOptions {
            memory_bytes: board.sdram.bytes,
            max_cycles: DEFAULT_MAX_CYCLES,
            clock_hz,
        }
    }
}

/// The most system clocks a step or the program load may take by default: 10^9, 40 s at 25 MHz (fpga-ecp5's clock),
/// a few times a decode step of a model that fills the 32 MB SDRAM.
pub const DEFAULT_MAX_CYCLES: u64 = 1_000_000_000;

impl FpgaDevice {
    /// `program` on `board`'s board top under Verilator (the core built for the program's
    /// preset, the SDRAM chip model, the UART bridged at [`SIM_UART_DIVISOR`] clocks a bit).
    pub fn simulated(program: &Program, board: &Board) -> Result<Self, FpgaError> {
        let design = Design::new(board.clone(), Some(program.manifest.config.clone()));
        let link = SimLink::start(&design)?;
        let options = FpgaOptions::for_board(board, design.clock_hz());
        FpgaDevice::new(program, Box::new(link), options)
    }

    /// `program` on a real `board` behind the serial port `port` at `baud` (the board's own
    /// baud when `None`), whose bitstream was built for the program's preset.
    pub fn on_port(
        program: &Program,
        board: &Board,
        port: &str,
        baud: Option<u32>,
    ) -> Result<Self, FpgaError> {
        let clock_hz = program.manifest.config.clock_hz;
        let link = SerialLink::open(
            port,
            baud.unwrap_or(board.uart.baud),
            Duration::from_secs(2),
            clock_hz,
        )?;
        FpgaDevice::new(
            program,
            Box::new(link),
            FpgaOptions::for_board(board, clock_hz),
        )
    }

    /// Load `program` onto the board behind `link`.
    pub fn new(
        program: &Program,
        link: Box<dyn Link>,
        options: FpgaOptions,
    ) -> Result<Self, FpgaError> {
        let m = &program.manifest;
        if m.shape_only {
            return Err(RtlError::ShapeOnly {
                model: m.model.name.clone(),
            }
            .into());
        }
        if program.instrs.len() > IMEM_WORDS {
            return Err(RtlError::ProgramTooLong {
                count: program.instrs.len(),
                max: IMEM_WORDS,
            }
            .into());
        }
        let region = program_region(m, program.instrs.len())?;
        if region.end() > options.memory_bytes {
            return Err(FpgaError::TooBig {
                end: region.end(),
                bytes: options.memory_bytes,
            });
        }
        let mut device = FpgaDevice {
            manifest: m.clone(),
            instrs: program.instrs.clone(),
            host: HostClient::new(link),
            program: region,
            lengths: SlotLengths::new(m.memory.kv.slots as usize),
            options,
            launches: Vec::new(),
            load_time: Duration::ZERO,
            load_bytes: 0,
        };
        let words = program.instr_bytes()?;
        device.load(program, &words)?;
        Ok(device)
    }

    fn load(&mut self, program: &Program, words: &[u8]) -> Result<(), FpgaError> {
        let start = Instant::now();
        let h = &mut self.host;
        h.ping()?;
        let id = h.read_reg(csr::ID)?;
        if u64::from(id) != csr::ID_VALUE {
            return Err(FpgaError::NotCore {
                link: h.link.describe(),
                id,
                want: csr::ID_VALUE as u32,
                hint: if id == tokenfab_hw::fpga::shell::STANDIN_ID {
                    " (the board runs the shell without the core: build the bitstream with --config)"
                } else {
                    ""
                },
            });
        }
        h.write_mem(self.manifest.memory.image.base, &program.image)?;
        h.write_mem(self.program.base, words)?;
        h.write_reg(csr::PROG_BASE, self.program.base as u32)?;
        h.write_reg(csr::PROG_COUNT, self.instrs.len() as u32)?;
        h.write_reg(csr::CONTROL, csr::CMD_LOAD_PROGRAM as u32)?;
        let st = self.wait("the program load")?;
        if st & 4 != 0 {
            return Err(self.stopped(st)?.into());
        }
        self.load_time = start.elapsed();
        self.load_bytes = self.host.bytes_sent + self.host.bytes_received;
        Ok(())
    }

    /// Poll `STATUS` until the core is idle; its value.
    fn wait(&mut self, what: &'static str) -> Result<u32, FpgaError> {
        let mut waited = 0u64;
        let mut pause = 256u64;
        loop {
            let st = self.host.read_reg(csr::STATUS)?;
            if st & 1 == 0 {
                return Ok(st);
            }
            if waited > self.options.max_cycles {
                let pc = self.host.read_reg(csr::PC)?;
                return Err(RtlError::Timeout {
                    what,
                    cycles: waited,
                    index: pc as usize,
                    instr: self.instr_at(pc),
                }
                .into());
            }
            self.host.link.idle(pause)?;
            waited += pause;
            // A poll costs a few hundred UART bit times; pausing longer each time keeps the
            // polls a small share of a long step without adding much to a short one.
            pause = (pause * 2).min(1 << 20);
        }
    }

    fn instr_at(&self, pc: u32) -> String {
        match self.instrs.get(pc as usize) {
            Some(i) => i.to_string(),
            None => format!("past the end of the {} instructions", self.instrs.len()),
        }
    }

    /// The error of a launch or load that stopped with `STATUS` = `st`.
    fn stopped(&mut self, st: u32) -> Result<RtlError, FpgaError> {
        let pc = self.host.read_reg(csr::PC)?;
        let index = pc as usize;
        let code = st >> 8 & 0xff;
        if u64::from(code) == status::UNSUPPORTED {
            if let Some(i) = self.instrs.get(index) {
                return Ok(RtlError::Unsupported {
                    mnemonic: i.spec().mnemonic,
                    index,
                });
            }
        }
        Ok(RtlError::Stopped {
            index,
            instr: self.instr_at(pc),
            code,
            meaning: status::meaning(u64::from(code)),
        })
    }

    /// The program's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Where the instruction words were placed.
    pub fn program_region(&self) -> Region {
        self.program
    }

    /// The link (for a simulated board's chip statistics).
    pub fn host(&mut self) -> &mut HostClient {
        &mut self.host
    }

    fn launch(&mut self, columns: &[Column]) -> Result<StepOutput, FpgaError> {
        let start = Instant::now();
        let h = &mut self.host;
        for (n, c) in columns.iter().enumerate() {
            h.write_reg(csr::column(n, csr::TOK), c.token)?;
            h.write_reg(csr::column(n, csr::POS), c.pos)?;
            h.write_reg(csr::column(n, csr::SEQ), c.seq)?;
        }
        h.write_reg(csr::COLUMNS, columns.len() as u32)?;
        h.write_reg(csr::CONTROL, csr::CMD_LAUNCH as u32)?;
        let st = self.wait("the step")?;
        if st & 4 != 0 {
            return Err(self.stopped(st)?.into());
        }
        if st & 2 == 0 {
            let pc = self.host.read_reg(csr::PC)?;
            return Err(RtlError::NotDone {
                index: pc as usize,
                status: st,
            }
            .into());
        }
        let h = &mut self.host;
        let cycles =
            u64::from(h.read_reg(csr::CYCLES_HI)?) << 32 | u64::from(h.read_reg(csr::CYCLES_LO)?);
        let next = (0..columns.len())
            .map(|n| h.read_reg(csr::column(n, csr::OUT)))
            .collect::<Result<Vec<u32>, _>>()?;
        let vocab = u64::from(self.manifest.model.vocab_size);
        let base = self.manifest.memory.logits.base;
        let mut logits = Vec::with_capacity(columns.len());
        for n in 0..columns.len() as u64 {
            let at = base + 4 * vocab * n;
            // The logits of column n start 8-byte aligned when the region and the vocabulary
            // allow; otherwise read from the beat holding the first byte.
            let aligned = at & !7;
            let bytes = h.read_mem(aligned, (at - aligned + 4 * vocab) as usize)?;
            logits.push(
                bytes[(at - aligned) as usize..]
                    .chunks_exact(4)
                    .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            );
        }
        self.launches.push(FpgaLaunch {
            columns: columns.to_vec(),
            cycles,
            wall: start.elapsed(),
        });
        Ok(StepOutput { logits, next })
    }
}

impl Device for FpgaDevice {
    fn name(&self) -> String {
        "fpga".into()
    }

    fn limits(&self) -> Limits {
        Limits::of_program(&self.manifest)
    }

    fn step(&mut self, columns: &[Column]) -> Result<StepOutput, RuntimeError> {
        let after = self.lengths.check(self, columns)?;
        let out = self.launch(columns)?;
        self.lengths.commit(after);
        Ok(out)
    }

    fn reset(&mut self) {
        self.lengths.reset();
    }
}
