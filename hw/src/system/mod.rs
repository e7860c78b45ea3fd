//! The Verilated core as a library the host runtime drives cycle by cycle.
//!
//! [`CoreModel::build`] emits the core's Verilog for a configuration, has Verilator compile it
//! with a small C shim (`shim.cpp`: one `tf_step` call is one clock cycle) into a shared
//! library, cached under `target/hw-verilator/` by the hash of the Verilog and the shim, and
//! loads it (`libloading`). Nothing is linked at build time: the EDA tools are provisioned on
//! first use like every other hardware test ([`crate::eda`]).
//!
//! [`System`] joins the model to a [`PortMemory`], the far side of the memory port: it sets the
//! memory's inputs, steps the clock, and reports the handshakes that fired. The runtime's RTL
//! backend puts the simulator's DRAM timing model behind the port; [`SimpleMemory`] is a fixed
//! latency, one-beat-a-cycle memory for the hardware crate's own tests.

use std::collections::hash_map::DefaultHasher;
use std::ffi::{c_char, c_void, CString};
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use thiserror::Error;
use tokenfab_isa::config::AccelConfig;

use crate::eda::{run, Eda, EdaError};
use crate::lint::waiver_args;
use crate::top::{self, csr, CoreError};

mod memory;
pub use memory::SimpleMemory;

const SHIM: &str = include_str!("shim.cpp");

/// Errors of building, loading and driving the core model.
#[derive(Debug, Error)]
pub enum SystemError {
    #[error(transparent)]
    Eda(#[from] EdaError),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot load the Verilated core {path}: {source}")]
    Load {
        path: PathBuf,
        #[source]
        source: libloading::Error,
    },
    #[error("the core did not finish within {cycles} cycles (pc {pc})")]
    Timeout { cycles: u64, pc: u32 },
}

/// The inputs of one cycle, as the shim's `TfIn`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Inputs {
    pub mem_rdata: u64,
    pub csr_wdata: u32,
    pub reset: u8,
    pub csr_addr: u8,
    pub csr_write: u8,
    pub mem_req_ready: u8,
    pub mem_wready: u8,
    pub mem_rvalid: u8,
}

/// The outputs sampled before a clock edge, as the shim's `TfOut`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Outputs {
    pub mem_wdata: u64,
    pub csr_rdata: u32,
    pub mem_req_addr: u32,
    pub mem_req_valid: u8,
    pub mem_req_write: u8,
    pub mem_req_beats: u8,
    pub mem_wvalid: u8,
    pub mem_wstrb: u8,
}

type NewFn = unsafe extern "C" fn(*const c_char) -> *mut c_void;
type StepFn = unsafe extern "C" fn(*mut c_void, *const Inputs, *mut Outputs);
type FreeFn = unsafe extern "C" fn(*mut c_void);

/// A built core library.
#[derive(Clone, Debug)]
pub struct CoreLibrary {
    pub path: PathBuf,
    /// Time spent building (zero when the cached build was reused).
    pub build_time: Duration,
}

impl CoreLibrary {
    /// Build (or reuse) the core for `config`; `trace` adds VCD support (slower to simulate).
    pub fn build(eda: &Eda, config: &AccelConfig, trace: bool) -> Result<Self, SystemError> {
        let core = top::verilog(config)?;
        let mut h = DefaultHasher::new();
        (&core.text, SHIM, trace, crate::eda::PINS).hash(&mut h);
        let dir = eda
            .venv
            .parent()
            .unwrap_or(&eda.venv)
            .join("hw-verilator")
            .join(format!("core-{}-{:016x}", config.name, h.finish()));
        let lib = dir.join("obj/libtokenfab_core.so");
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SystemError::Io { path, source }
        };
        let start = Instant::now();
        let fresh = !lib.exists();
        if fresh {
            fs::create_dir_all(&dir).map_err(io(&dir))?;
            let v = dir.join("tokenfab_core.v");
            fs::write(&v, &core.text).map_err(io(&v))?;
            let c = dir.join("shim.cpp");
            fs::write(&c, SHIM).map_err(io(&c))?;
            let mut cmd = eda.verilator();
            cmd.args([
                "--cc", "--exe", "--build", "-j", "2", "--prefix", "Vcore", "-O3",
            ])
            .args(waiver_args())
            .args(["-Wno-fatal", "--top-module", "tokenfab_core"])
            .args(["-CFLAGS", "-fPIC -O2", "-LDFLAGS", "-shared"]);
            if trace {
                cmd.arg("--trace");
            }
            cmd.arg("-Mdir")
                .arg(dir.join("obj"))
                .args(["-o", "libtokenfab_core.so"])
                .arg(&v)
                .arg(&c);
            run(&mut cmd)?;
        }
        Ok(Self {
            path: lib,
            build_time: if fresh {
                start.elapsed()
            } else {
                Duration::ZERO
            },
        })
    }
}

/// One instance of the Verilated core.
pub struct CoreModel {
    handle: *mut c_void,
    step: StepFn,
    peek: StepFn,
    free: FreeFn,
    /// Cycles stepped since creation.
    pub cycles: u64,
    _lib: libloading::Library,
}

impl CoreModel {
    /// Load `lib` and create a core; with `vcd`, every cycle is written to that waveform file.
    pub fn new(lib: &CoreLibrary, vcd: Option<&Path>) -> Result<Self, SystemError> {
        let load = |source| SystemError::Load {
            path: lib.path.clone(),
            source,
        };
        // SAFETY: the library is the one `CoreLibrary::build` compiled from `shim.cpp`, whose
        // functions have exactly these signatures.
        unsafe {
            let library = libloading::Library::new(&lib.path).map_err(load)?;
            let new: NewFn = *library.get::<NewFn>(b"tf_new\0").map_err(load)?;
            let step: StepFn = *library.get::<StepFn>(b"tf_step\0").map_err(load)?;
            let peek: StepFn = *library.get::<StepFn>(b"tf_peek\0").map_err(load)?;
            let free: FreeFn = *library.get::<FreeFn>(b"tf_free\0").map_err(load)?;
            let path = vcd
                .map(|p| CString::new(p.to_string_lossy().as_bytes()).unwrap_or_default())
                .unwrap_or_default();
            let handle = new(path.as_ptr());
            Ok(Self {
                handle,
                step,
                peek,
                free,
                cycles: 0,
                _lib: library,
            })
        }
    }

    /// One clock cycle with `inputs`; returns the outputs sampled before the edge.
    pub fn step(&mut self, inputs: &Inputs) -> Outputs {
        let mut out = Outputs::default();
        // SAFETY: `handle` is live until drop; the structs match the shim's layout.
        unsafe { (self.step)(self.handle, inputs, &mut out) };
        self.cycles += 1;
        out
    }

    /// The outputs for `inputs` without a clock edge.
    pub fn peek(&mut self, inputs: &Inputs) -> Outputs {
        let mut out = Outputs::default();
        // SAFETY: as in `step`.
        unsafe { (self.peek)(self.handle, inputs, &mut out) };
        out
    }
}

impl Drop for CoreModel {
    fn drop(&mut self) {
        // SAFETY: `handle` came from `tf_new` and is freed once.
        unsafe { (self.free)(self.handle) };
    }
}

/// The far side of the memory port.
pub trait PortMemory {
    /// What the memory drives this cycle: (`mem_req_ready`, `mem_wready`, a read beat).
    fn drive(&mut self) -> (bool, bool, Option<u64>);
    /// A request was taken at this edge.
    fn request(&mut self, write: bool, addr: u32, beats: u8);
    /// A write beat was taken at this edge.
    fn write_beat(&mut self, data: u64, strb: u8);
    /// One core cycle passed.
    fn tick(&mut self);
}

/// The core and its memory.
pub struct System<M: PortMemory> {
    pub core: CoreModel,
    pub memory: M,
}

impl<M: PortMemory> System<M> {
    pub fn new(core: CoreModel, memory: M) -> Self {
        Self { core, memory }
    }

    fn cycle(&mut self, mut inputs: Inputs) -> Outputs {
        let (req_ready, wready, beat) = self.memory.drive();
        inputs.mem_req_ready = req_ready as u8;
        inputs.mem_wready = wready as u8;
        inputs.mem_rvalid = beat.is_some() as u8;
        inputs.mem_rdata = beat.unwrap_or(0);
        let out = self.core.step(&inputs);
        if out.mem_req_valid != 0 && req_ready {
            self.memory
                .request(out.mem_req_write != 0, out.mem_req_addr, out.mem_req_beats);
        }
        if out.mem_wvalid != 0 && wready {
            self.memory.write_beat(out.mem_wdata, out.mem_wstrb);
        }
        self.memory.tick();
        out
    }

    /// Read register `addr`.
    pub fn read_csr(&mut self, addr: u64) -> u32 {
        let inputs = Inputs {
            csr_addr: addr as u8,
            ..Default::default()
        };
        self.core.peek(&inputs).csr_rdata
    }

    /// Write register `addr` (one cycle).
    pub fn write_csr(&mut self, addr: u64, value: u32) {
        self.cycle(Inputs {
            csr_addr: addr as u8,
            csr_write: 1,
            csr_wdata: value,
            ..Default::default()
        });
    }

    /// Hold reset for two cycles.
    pub fn reset(&mut self) {
        for _ in 0..2 {
            self.cycle(Inputs {
                reset: 1,
                ..Default::default()
            });
        }
    }

    /// Run until the core is idle (`STATUS` bit 0 clear), at most `limit` cycles; returns the
    /// cycles run.
    pub fn run_until_idle(&mut self, limit: u64) -> Result<u64, SystemError> {
        let inputs = Inputs {
            csr_addr: csr::STATUS as u8,
            ..Default::default()
        };
        let mut n = 0;
        loop {
            let out = self.cycle(inputs);
            n += 1;
            if out.csr_rdata & 1 == 0 {
                return Ok(n);
            }
            if n >= limit {
                let pc = self.read_csr(csr::PC);
                return Err(SystemError::Timeout { cycles: n, pc });
            }
        }
    }
}
