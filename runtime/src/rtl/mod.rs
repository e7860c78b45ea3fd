//! The RTL backend: a compiled program on the accelerator core's RTL under Verilator
//! (`tokenfab_hw::system`), with the simulator's DRAM model behind its memory port
//! ([`memory::DramMemory`]).
//!
//! **Loading.** [`RtlDevice::new`] builds the core for the program's `AccelConfig` (Verilator,
//! cached on disk by `CoreLibrary::build` and in this process by [`core_library`]), writes the
//! DRAM image into the device's DRAM and the instruction words just past the memory map: at the
//! first multiple of [`PROGRAM_ALIGN`] after the end of every region of the map (image, KV
//! cache, logits), which the map leaves free by construction. The range must lie inside the
//! configured DRAM and below 4 GiB (the port's addresses are 32 bits). The core copies the
//! words into its instruction memory once (`CMD_LOAD_PROGRAM`); a program longer than
//! [`IMEM_WORDS`] is refused before anything is built.
//!
//! **A step.** Per column set `TOK`, `POS`, `SEQ`, set `COLUMNS`, restart the DRAM timing (each
//! step starts from an idle DRAM, as the timing model times it), write `CMD_LAUNCH`, clock the
//! core until it is idle, then read `STATUS`, `OUT`, `CYCLES` and each column's logits from the
//! logits region of the device's DRAM (`logits.base + 4 * vocab * n`, as the simulator reads
//! them). A stop with an error code becomes an [`RtlError`] naming the instruction at `PC`,
//! decoded from the program: `the RTL does not implement SOFTMAX yet (instruction 17)`.
//!
//! Every launch is recorded ([`RtlLaunch`]: the core's `CYCLES`, the cycles Verilator stepped and
//! the wall time), for the RTL's cycles per step, Verilator's speed and the comparison with the
//! timing model ([`compare`]).

pub mod compare;
pub mod error;
pub mod memory;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokenfab_hw::eda::Eda;
use tokenfab_hw::system::{CoreLibrary, CoreModel, System, SystemError};
use tokenfab_hw::top::core::IMEM_WORDS;
use tokenfab_hw::top::{csr, status};
use tokenfab_isa::config::AccelConfig;
use tokenfab_isa::instr::Instr;
use tokenfab_isa::program::{Manifest, Program, Region};
use tokenfab_sim::dram_timing::MemoryStandard;
use tokenfab_sim::timing::Clocks;

use crate::device::{Column, Device, Limits, SlotLengths, StepOutput};
use crate::error::RuntimeError;

pub use compare::{timing_model_cycles, CycleComparison};
pub use error::RtlError;
pub use memory::{DramMemory, MemoryFault, PortTiming};

/// Alignment of the instruction words placed after the memory map.
pub const PROGRAM_ALIGN: u64 = 4096;

/// Requests the memory port accepts before `mem_req_ready` goes low, by default: enough for the
/// core's read and write DMA engines to keep a few requests each in flight.
pub const DEFAULT_QUEUE_DEPTH: usize = 8;

/// Choices of the RTL backend that are not part of the program.
#[derive(Clone, Debug)]
pub struct RtlOptions {
    /// Write every clock cycle of the core to this VCD waveform (slower; a separate build).
    pub vcd: Option<PathBuf>,
    /// The most core cycles one step (or the program load) may take before it is a timeout.
    /// The default, 10^8 cycles (about a minute of Verilator time), is ~60x a decode step of the
    /// shipped model on `tiny` (its ~5 MB of INT8 weights at the SDR SDRAM's 286 MB/s).
    pub max_cycles: u64,
    /// See [`DEFAULT_QUEUE_DEPTH`].
    pub queue_depth: usize,
}

impl Default for RtlOptions {
    fn default() -> Self {
        RtlOptions {
            vcd: None,
            max_cycles: 100_000_000,
            queue_depth: DEFAULT_QUEUE_DEPTH,
        }
    }
}

/// What one launch did.
#[derive(Clone, Debug, PartialEq)]
pub struct RtlLaunch {
    pub columns: Vec<Column>,
    /// The core's own count (`CYCLES`): from `CMD_LAUNCH` to `HALT`.
    pub cycles: u64,
    /// Cycles Verilator stepped until the core was idle.
    pub stepped: u64,
    /// Wall time of those cycles.
    pub wall: Duration,
}

/// The core built for `config` (with VCD support when `trace`): built once per process and
/// configuration, and on disk once per Verilog text.
pub fn core_library(config: &AccelConfig, trace: bool) -> Result<CoreLibrary, RtlError> {
    static BUILT: OnceLock<Mutex<HashMap<(String, bool), CoreLibrary>>> = OnceLock::new();
    let key = (format!("{config:?}"), trace);
    // Held while building, so threads of one process never build the same core twice at once.
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(lib) = built.get(&key) {
        return Ok(lib.clone());
    }
    let lib = CoreLibrary::build(Eda::get()?, config, trace)?;
    built.insert(key, lib.clone());
    Ok(lib)
}

/// Where the instruction words of `count` instructions go: past every region of the map.
pub fn program_region(m: &Manifest, count: usize) -> Result<Region, RtlError> {
    let mm = &m.memory;
    let end = [mm.image.end(), mm.kv.region.end(), mm.logits.end()]
        .into_iter()
        .max()
        .unwrap_or(0);
    let base = end.div_ceil(PROGRAM_ALIGN) * PROGRAM_ALIGN;
    let bytes = count as u64 * tokenfab_isa::instr::INSTR_BYTES as u64;
    let region = Region { base, bytes };
    for (what, limit) in [
        ("the configured DRAM", m.config.dram.capacity_bytes),
        ("the RTL's 32-bit memory port", 1 << 32),
    ] {
        if region.end() > limit {
            return Err(RtlError::NoRoom {
                base,
                end: region.end(),
                what,
                limit,
            });
        }
    }
    Ok(region)
}

/// A compiled program on the Verilated core.
pub struct RtlDevice {
    manifest: Manifest,
    instrs: Vec<Instr>,
    system: System<DramMemory>,
    program: Region,
    options: RtlOptions,
    lengths: SlotLengths,
    /// Every launch so far.
    pub launches: Vec<RtlLaunch>,
    /// Time spent building the core (zero when a cached build was used).
    pub build_time: Duration,
    /// Core cycles of `CMD_LOAD_PROGRAM`.
    pub load_cycles: u64,
}

impl RtlDevice {
    /// Build (or reuse) the core for `program`'s configuration, load its DRAM image and its
    /// instructions.
    pub fn new(program: &Program, options: RtlOptions) -> Result<Self, RuntimeError> {
        let m = &program.manifest;
        if m.shape_only {
            return Err(RtlError::ShapeOnly {
                model: m.model.name.clone(),
            }
            .into());
        }
        program.check("<program>")?;
        if program.instrs.len() > IMEM_WORDS {
            return Err(RtlError::ProgramTooLong {
                count: program.instrs.len(),
                max: IMEM_WORDS,
            }
            .into());
        }
        let region = program_region(m, program.instrs.len())?;
        let standard = MemoryStandard::preset(&m.config.dram.standard).map_err(RtlError::from)?;
        let clocks = Clocks::new(m.config.clock_hz, &standard.name, standard.clock.tck_ps)
            .map_err(RtlError::from)?;
        let timing = PortTiming {
            standard,
            channels: m.config.dram.channels,
            interleave_bytes: m.config.dram.interleave_bytes,
            clocks,
            queue_depth: options.queue_depth,
        };
        let memory = DramMemory::new(
            &m.memory,
            program.image.clone(),
            region,
            program.instr_bytes()?,
            timing,
        )
        .map_err(RtlError::from)?;
        let lib = core_library(&m.config, options.vcd.is_some())?;
        let core = CoreModel::new(&lib, options.vcd.as_deref()).map_err(RtlError::from)?;
        let mut device = RtlDevice {
            manifest: m.clone(),
            instrs: program.instrs.clone(),
            system: System::new(core, memory),
            program: region,
            lengths: SlotLengths::new(m.memory.kv.slots as usize),
            options,
            launches: Vec::new(),
            build_time: lib.build_time,
            load_cycles: 0,
        };
        device.load()?;
        Ok(device)
    }

    /// Reset the core and copy the instruction words into its instruction memory.
    fn load(&mut self) -> Result<(), RtlError> {
        let s = &mut self.system;
        s.reset();
        s.write_csr(csr::PROG_BASE, self.program.base as u32);
        s.write_csr(csr::PROG_COUNT, self.instrs.len() as u32);
        s.memory.begin_launch()?;
        s.write_csr(csr::CONTROL, csr::CMD_LOAD_PROGRAM as u32);
        self.load_cycles = self.run("the program load")?.0;
        let st = self.system.read_csr(csr::STATUS);
        if st & 4 != 0 {
            return Err(self.stopped(st));
        }
        self.check_memory()
    }

    /// Clock the core until it is idle (`what` is running): (cycles, wall time).
    fn run(&mut self, what: &'static str) -> Result<(u64, Duration), RtlError> {
        let start = Instant::now();
        match self.system.run_until_idle(self.options.max_cycles) {
            Ok(n) => Ok((n, start.elapsed())),
            Err(SystemError::Timeout { cycles, pc }) => Err(RtlError::Timeout {
                what,
                cycles,
                index: pc as usize,
                instr: self.instr_at(pc),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The instruction at `pc`, as the disassembler writes it.
    fn instr_at(&self, pc: u32) -> String {
        match self.instrs.get(pc as usize) {
            Some(i) => i.to_string(),
            None => format!("past the end of the {} instructions", self.instrs.len()),
        }
    }

    /// The error of a launch or load that stopped with `STATUS` = `st`.
    fn stopped(&mut self, st: u32) -> RtlError {
        let pc = self.system.read_csr(csr::PC);
        let index = pc as usize;
        let code = st >> 8 & 0xff;
        if u64::from(code) == status::UNSUPPORTED {
            if let Some(i) = self.instrs.get(index) {
                return RtlError::Unsupported {
                    mnemonic: i.spec().mnemonic,
                    index,
                };
            }
        }
        RtlError::Stopped {
            index,
            instr: self.instr_at(pc),
            code,
            meaning: status::meaning(u64::from(code)),
        }
    }

    /// The core's accesses stayed inside the map and it sent every write beat it announced.
    fn check_memory(&mut self) -> Result<(), RtlError> {
        let mem = &mut self.system.memory;
        if let Some(MemoryFault { write, addr }) = mem.take_fault() {
            let mm = &self.manifest.memory;
            let r = |name: &str, r: Region| format!("{name} [{:#x}, {:#x})", r.base, r.end());
            let map = [
                r("image", mm.image),
                r("kv", mm.kv.region),
                r("logits", mm.logits),
                r("instructions", self.program),
            ]
            .join(", ");
            return Err(RtlError::Unmapped { write, addr, map });
        }
        match mem.pending_write_beats() {
            0 => Ok(()),
            beats => Err(RtlError::WritesPending { beats }),
        }
    }

    /// The program's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Where the instruction words were placed.
    pub fn program_region(&self) -> Region {
        self.program
    }

    /// The device's DRAM and its traffic counters.
    pub fn memory(&self) -> &DramMemory {
        &self.system.memory
    }

    pub fn memory_mut(&mut self) -> &mut DramMemory {
        &mut self.system.memory
    }

    /// Verilator's speed over every launch so far: simulated core cycles per wall second.
    pub fn cycles_per_second(&self) -> f64 {
        let cycles: u64 = self.launches.iter().map(|l| l.stepped).sum();
        let wall: f64 = self.launches.iter().map(|l| l.wall.as_secs_f64()).sum();
        cycles as f64 / wall.max(1e-9)
    }

    fn launch(&mut self, columns: &[Column]) -> Result<StepOutput, RtlError> {
        let s = &mut self.system;
        for (n, c) in columns.iter().enumerate() {
            s.write_csr(csr::column(n, csr::TOK), c.token);
            s.write_csr(csr::column(n, csr::POS), c.pos);
            s.write_csr(csr::column(n, csr::SEQ), c.seq);
        }
        s.write_csr(csr::COLUMNS, columns.len() as u32);
        s.memory.begin_launch()?;
        s.write_csr(csr::CONTROL, csr::CMD_LAUNCH as u32);
        let (stepped, wall) = self.run("the step")?;
        let st = self.system.read_csr(csr::STATUS);
        if st & 4 != 0 {
            return Err(self.stopped(st));
        }
        if st & 2 == 0 {
            let pc = self.system.read_csr(csr::PC);
            return Err(RtlError::NotDone {
                index: pc as usize,
                status: st,
            });
        }
        self.check_memory()?;
        let s = &mut self.system;
        let cycles =
            u64::from(s.read_csr(csr::CYCLES_HI)) << 32 | u64::from(s.read_csr(csr::CYCLES_LO));
        let next: Vec<u32> = (0..columns.len())
            .map(|n| s.read_csr(csr::column(n, csr::OUT)))
            .collect();
        let vocab = u64::from(self.manifest.model.vocab_size);
        let logits = (0..columns.len())
            .map(|n| {
                let at = self.manifest.memory.logits.base + 4 * vocab * n as u64;
                let bytes = s
                    .memory
                    .dram()
                    .read(at, 4 * vocab)
                    .map_err(|source| RtlError::Logits { column: n, source })?;
                Ok(bytes
                    .chunks_exact(4)
                    .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect())
            })
            .collect::<Result<Vec<Vec<i32>>, RtlError>>()?;
        self.launches.push(RtlLaunch {
            columns: columns.to_vec(),
            cycles,
            stepped,
            wall,
        });
        Ok(StepOutput { logits, next })
    }
}

impl Device for RtlDevice {
    fn name(&self) -> String {
        "rtl".into()
    }

    fn limits(&self) -> Limits {
        Limits::of_program(&self.manifest)
    }

    fn step(&mut self, columns: &[Column]) -> Result<StepOutput, RuntimeError> {
        let after = self.lengths.check(self, columns)?;
        // As on the simulator, a rollback needs no work: the program reads positions 0..=POS.
        let out = self.launch(columns)?;
        self.lengths.commit(after);
        Ok(out)
    }

    fn reset(&mut self) {
        self.system.memory.dram_mut().reset_kv();
        self.lengths.reset();
    }
}
