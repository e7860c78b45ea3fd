//! The board shell under Verilator, with a C++ model of its SDR SDRAM chip (`shell_sim.cpp`:
//! stores data, returns it CAS latency clocks after a READ, and checks the JEDEC timing between
//! commands, failing loudly on a violation) and a UART bridge: the host's bytes go into the
//! FPGA's receive line at the board's bit time, the FPGA's transmit line is sampled back into
//! bytes. [`ShellSim`] is a running model driven through pipes, one command a line, so a test (or
//! later the runtime's `fpga` backend) talks to the simulated board byte for byte as it would to
//! the serial port of a real one.
//!
//! The build is cached under `target/hw-verilator/` by the hash of the Verilog and the C++.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::eda::{run, Eda, EdaError};
use crate::fpga::board::Cycles;
use crate::fpga::shell::{waiver_args, Design, DesignError, CORE_MODULE, SHELL_MODULE};
use crate::fpga::uart::divisor;

/// The C++ of the chip model and UART bridge.
pub const SIM_CPP: &str = include_str!("shell_sim.cpp");

/// Errors of building and running the simulated board.
#[derive(Debug, Error)]
pub enum SimError {
    #[error(transparent)]
    Eda(#[from] EdaError),
    #[error(transparent)]
    Design(#[from] DesignError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("simulated board: {0}")]
    Model(String),
    #[error("simulated board: {got} of {want} reply bytes after {clocks} clocks (got {bytes})")]
    Timeout {
        got: usize,
        want: usize,
        clocks: u64,
        bytes: String,
    },
}

/// A running simulated board.
pub struct ShellSim {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// The UART bit time in clocks.
    pub divisor: u64,
    /// Time spent building (zero when cached).
    pub build_time: Duration,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ShellSim {
    /// Build (or reuse) the shell of `design` (with its core, or the stand-in) with its UART at
    /// `baud` and start it, the chip model checking the board's own timing at the design's clock.
    ///
    /// Under Verilator the UART runs at a simulation baud: a few clocks a bit (the UART's
    /// minimum is 4) instead of the board's 115200 baud's hundreds, or loading weights would take
    /// hours of simulated clocks; the bitstream keeps the board's baud.
    pub fn start(eda: &Eda, design: &Design, baud: u32) -> Result<ShellSim, SimError> {
        ShellSim::start_checking(eda, design, &design.sdram_cycles(), baud)
    }

    /// As [`ShellSim::start`], the chip model checking the timing `chip` instead of the board's
    /// (a test that the model catches a controller built for a faster chip).
    pub fn start_checking(
        eda: &Eda,
        design: &Design,
        chip: &Cycles,
        baud: u32,
    ) -> Result<ShellSim, SimError> {
        let board = &design.board;
        let verilog = design.shell_verilog(Some(baud));
        let core = design.core_verilog()?;
        let mut h = DefaultHasher::new();
        (&verilog, &core, SIM_CPP, crate::eda::PINS).hash(&mut h);
        let dir = eda
            .venv
            .parent()
            .unwrap_or(&eda.venv)
            .join("hw-verilator")
            .join(format!(
                "{SHELL_MODULE}-{}-{:016x}",
                design.preset(),
                h.finish()
            ));
        let exe = dir.join("obj/sim");
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SimError::Io { path, source }
        };
        let start = Instant::now();
        let fresh = !exe.exists();
        if fresh {
            fs::create_dir_all(&dir).map_err(io(&dir))?;
            let v = dir.join(format!("{SHELL_MODULE}.v"));
            fs::write(&v, &verilog).map_err(io(&v))?;
            let k = dir.join(format!("{CORE_MODULE}.v"));
            fs::write(&k, &core).map_err(io(&k))?;
            let c = dir.join("shell_sim.cpp");
            fs::write(&c, SIM_CPP).map_err(io(&c))?;
            let mut cmd = eda.verilator();
            cmd.args([
                "--cc", "--exe", "--build", "-j", "2", "-O2", "--prefix", "Vdut",
            ])
            .args(waiver_args());
            if design.core.is_some() {
                // As the core's own library build (`crate::system`): the core's Verilog passes
                // `hw/tests/lint.rs` block by block; warnings of the whole are not fatal here.
                cmd.arg("-Wno-fatal");
            }
            cmd.args(["--top-module", SHELL_MODULE, "-Mdir"])
                .arg(dir.join("obj"))
                .args(["-o", "sim"])
                .arg(&v)
                .arg(&k)
                .arg(&c);
            run(&mut cmd)?;
        }
        let build_time = if fresh {
            start.elapsed()
        } else {
            Duration::ZERO
        };
        let c = chip;
        let div = divisor(design.clock_hz(), f64::from(baud));
        let args = [
            c.n_rcd,
            c.n_rrd,
            c.n_rp,
            c.n_ras,
            c.n_rc,
            c.n_rfc,
            c.n_mrd,
            c.n_wr,
            c.n_refi,
            c.n_init,
            c.cl,
            c.init_refreshes,
        ]
        .map(|v| v.to_string())
        .into_iter()
        .chain([
            div.to_string(),
            board.sdram.columns.to_string(),
            board.sdram.rows.to_string(),
        ]);
        let mut child = Command::new(&exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| EdaError::Spawn {
                command: exe.display().to_string(),
                source,
            })?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| SimError::Model("no stdin".into()))?;
        let stdout = BufReader::new(
            child
                .stdout
                .take()
                .ok_or_else(|| SimError::Model("no stdout".into()))?,
        );
        Ok(ShellSim {
            child,
            stdin,
            stdout,
            divisor: div,
            build_time,
        })
    }

    fn command(&mut self, line: &str) -> Result<String, SimError> {
        let fail = |e: std::io::Error| SimError::Model(format!("pipe: {e}"));
        writeln!(self.stdin, "{line}").map_err(fail)?;
        self.stdin.flush().map_err(fail)?;
        let mut reply = String::new();
        self.stdout.read_line(&mut reply).map_err(fail)?;
        if reply.is_empty() {
            let status = self.child.wait().map_err(fail)?;
            return Err(SimError::Model(format!("the model exited ({status})")));
        }
        if reply.starts_with("violation") {
            return Err(SimError::Model(reply.trim().to_string()));
        }
        Ok(reply.trim().to_string())
    }

    /// Queue `bytes` for the board's UART receiver (they go out as the board runs).
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), SimError> {
        let fail = |e: std::io::Error| SimError::Model(format!("pipe: {e}"));
        writeln!(self.stdin, "tx {}", hex(bytes)).map_err(fail)
    }

    /// Run until `n` bytes have come back (or `max_clocks` clocks have passed: an error).
    pub fn recv(&mut self, n: usize, max_clocks: u64) -> Result<Vec<u8>, SimError> {
        let reply = self.command(&format!("rx {n} {max_clocks}"))?;
        let (verb, data) = reply.split_once(' ').unwrap_or((&reply, ""));
        let bytes: Vec<u8> = (0..data.len() / 2)
            .filter_map(|i| u8::from_str_radix(&data[2 * i..2 * i + 2], 16).ok())
            .collect();
        match verb {
            "rx" => Ok(bytes),
            _ => Err(SimError::Timeout {
                got: bytes.len(),
                want: n,
                clocks: max_clocks,
                bytes: hex(&bytes),
            }),
        }
    }

    /// Send a request and wait for its reply of `reply_len` bytes, allowing the UART time of
    /// both plus `extra_clocks`.
    pub fn transact(
        &mut self,
        request: &[u8],
        reply_len: usize,
        extra_clocks: u64,
    ) -> Result<Vec<u8>, SimError> {
        self.send(request)?;
        let uart = (request.len() + reply_len) as u64 * 11 * self.divisor;
        self.recv(reply_len, uart + extra_clocks)
    }

    /// Run `clocks` clocks.
    pub fn run(&mut self, clocks: u64) -> Result<(), SimError> {
        self.command(&format!("run {clocks}")).map(|_| ())
    }

    /// The chip model's counters (`clocks`, `refreshes`, `activates`, `reads`, `writes`,
    /// `precharges`, `max_refresh_gap`).
    pub fn stats(&mut self) -> Result<Vec<(String, u64)>, SimError> {
        let reply = self.command("stats")?;
        Ok(reply
            .split_whitespace()
            .skip(1)
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect())
    }
}

impl Drop for ShellSim {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let _ = self.child.wait();
    }
}
