//! `DramModel`: a whole memory system (channels x pseudo-channels) behind the API the
//! simulator's DMA engines use.
//!
//! Requests arrive at the model's current cycle ([`DramModel::submit`]), are split into bursts
//! by the address mapping and queued on every pseudo-channel they touch; time moves with
//! [`DramModel::tick`], [`DramModel::advance_to`] or [`DramModel::run_until_idle`]; a request
//! completes when the last beat of its last burst has crossed the bus (reads) or been taken by
//! the device (writes), and [`DramModel::poll_completions`] hands back every completion whose cycle
//! has passed. Cycles are DRAM clock cycles (`tCK` of the standard); [`DramModel::seconds`]
//! converts.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use thiserror::Error;

use super::constraints::{rows, Command, CompiledRows};
use super::fastpath::{calibrate, try_jump, StreamCalibration};
use super::mapping::{AddressMapping, Geometry};
use super::scheduler::{Segment, Unit, UnitParams};
use super::standard::MemoryStandard;
use super::stats::{Counters, DramStats};

/// Why the model refused a configuration or a request.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DramError {
    #[error("memory standard `{standard}`: {channels} channels: expected between 1 and 1024")]
    Channels { standard: String, channels: usize },
    #[error("memory standard `{standard}`: interleave_bytes = {value}: expected a power of two, at least {min} (one burst on every pseudo-channel)")]
    Interleave {
        standard: String,
        value: usize,
        min: u64,
    },
    #[error(
        "request {id}: {bytes} bytes at {addr:#x}: expected at least 1 byte, ending below 2^64"
    )]
    BadRequest { id: u64, addr: u64, bytes: u64 },
}

/// One access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub addr: u64,
    pub bytes: u64,
    pub write: bool,
    /// The caller's name for it, returned in its [`Completion`].
    pub id: u64,
}

/// A finished request: the cycle its last data beat was transferred.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Completion {
    pub cycle: u64,
    pub id: u64,
}

/// Model options; [`DramOptions::default`] is what the simulator uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DramOptions {
    /// Jump over the periodic middle of long sequential streams (see `fastpath`).
    pub fast_path: bool,
    /// Refresh as the standard says (off only for tests and experiments).
    pub refresh: bool,
    /// Record every scheduled command (for traces and tests; jumps are not expanded).
    pub trace: bool,
    /// Bursts the row-command look-ahead sees per pseudo-channel (a controller's queue depth).
    pub lookahead_bursts: u64,
    /// Let each pseudo-channel's scheduler remember its look-ahead window and failed decisions
    /// while they cannot change, and issue runs of column commands without re-deciding each one
    /// (exact, and much faster on short scattered reads; off only to test that it changes
    /// nothing).
    pub incremental: bool,
}

impl Default for DramOptions {
    fn default() -> Self {
        DramOptions {
            fast_path: true,
            refresh: true,
            trace: false,
            lookahead_bursts: 64,
            incremental: true,
        }
    }
}

/// One scheduled command of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandRecord {
    pub cycle: u64,
    pub channel: u32,
    pub pseudo_channel: u32,
    pub command: Command,
    pub bank_group: u32,
    pub bank: u32,
    pub row: u32,
}

struct Pending {
    id: u64,
    segments: u32,
    done: i64,
}

/// A memory system of `channels` channels of one standard.
pub struct DramModel {
    standard: MemoryStandard,
    mapping: AddressMapping,
    params: Arc<UnitParams>,
    options: DramOptions,
    units: Vec<Unit>,
    /// Per unit: no command can issue before this cycle unless a request arrives first
    /// ([`Unit::quiet_until`]), so advancing to an earlier cycle need not visit it.
    quiet_until: Vec<i64>,
    /// A request arrived since the fast path last looked for a long stream to calibrate on.
    arrived_since_calibration: bool,
    now: i64,
    requests: Vec<Option<Pending>>,
    free: Vec<usize>,
    completions: BinaryHeap<Reverse<Completion>>,
    outstanding: usize,
    latest: i64,
    calibrations: [Option<Option<Arc<StreamCalibration>>>; 2],
    bytes_read: u64,
    bytes_written: u64,
}

impl DramModel {
    /// A model with default options.
    pub fn new(
        standard: &MemoryStandard,
        channels: usize,
        interleave_bytes: usize,
    ) -> Result<Self, DramError> {
        Self::with_options(standard, channels, interleave_bytes, DramOptions::default())
    }

    pub fn with_options(
        standard: &MemoryStandard,
        channels: usize,
        interleave_bytes: usize,
        options: DramOptions,
    ) -> Result<Self, DramError> {
        if !(1..=1024).contains(&channels) {
            return Err(DramError::Channels {
                standard: standard.name.clone(),
                channels,
            });
        }
        let o = &standard.organisation;
        let min = u64::from(o.bytes_per_burst) * u64::from(o.pseudo_channels);
        if !interleave_bytes.is_power_of_two() || (interleave_bytes as u64) < min {
            return Err(DramError::Interleave {
                standard: standard.name.clone(),
                value: interleave_bytes,
                min,
            });
        }
        let t = &standard.timing;
        let n_bl = i64::from(standard.n_bl());
        let params = Arc::new(UnitParams {
            geometry: Geometry::new(standard),
            rows: CompiledRows::new(&rows(standard)),
            refresh: standard.refresh.clone(),
            refresh_on: options.refresh,
            n_refi: t.nREFI,
            read_latency: i64::from(t.nCL) + n_bl,
            write_latency: i64::from(t.nCWL) + n_bl,
            lookahead: options.lookahead_bursts.max(1),
            trace: options.trace,
            incremental: options.incremental,
        });
        let units: Vec<Unit> = (0..channels * o.pseudo_channels as usize)
            .map(|_| Unit {
                ahead: [!options.fast_path; 2],
                ..Unit::new(params.clone())
            })
            .collect();
        Ok(DramModel {
            standard: standard.clone(),
            mapping: AddressMapping::new(standard, channels as u64, interleave_bytes as u64),
            params,
            options,
            quiet_until: vec![i64::MIN; units.len()],
            units,
            arrived_since_calibration: false,
            now: 0,
            requests: Vec::new(),
            free: Vec::new(),
            completions: BinaryHeap::new(),
            outstanding: 0,
            latest: 0,
            calibrations: [None, None],
            bytes_read: 0,
            bytes_written: 0,
        })
    }

    pub fn standard(&self) -> &MemoryStandard {
        &self.standard
    }

    pub fn mapping(&self) -> &AddressMapping {
        &self.mapping
    }

    /// What every unit shares (for calibration and tests).
    pub fn unit_params(&self) -> &Arc<UnitParams> {
        &self.params
    }

    pub fn channels(&self) -> usize {
        self.mapping.channels as usize
    }

    /// The current cycle.
    pub fn now(&self) -> u64 {
        self.now as u64
    }

    /// Seconds of `cycles` DRAM clock cycles.
    pub fn seconds(&self, cycles: u64) -> f64 {
        cycles as f64 * self.standard.tck_s()
    }

    /// Peak bandwidth of the whole system, bytes per second.
    pub fn peak_bytes_per_s(&self) -> f64 {
        self.standard.peak_bytes_per_s_per_channel() * self.channels() as f64
    }

    /// Requests submitted and not yet completed (completed means: polled or pollable).
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Queue `req`, arriving now.
    pub fn submit(&mut self, req: Request) -> Result<(), DramError> {
        if req.bytes == 0 || req.addr.checked_add(req.bytes).is_none() {
            return Err(DramError::BadRequest {
                id: req.id,
                addr: req.addr,
                bytes: req.bytes,
            });
        }
        let slot = self.free.pop().unwrap_or_else(|| {
            self.requests.push(None);
            self.requests.len() - 1
        });
        let pcs = self.mapping.pseudo_channels;
        let mut segments = 0;
        let (mapping, units, quiet_until, now) = (
            &self.mapping,
            &mut self.units,
            &mut self.quiet_until,
            self.now,
        );
        mapping.for_each_channel_range(req.addr, req.bytes, |ch, lo, hi| {
            for pc in 0..pcs {
                if let Some((first, count)) = mapping.unit_bursts(lo, hi, pc) {
                    let u = (ch * pcs + pc) as usize;
                    quiet_until[u] = i64::MIN;
                    units[u].push(Segment {
                        req: slot,
                        first,
                        count,
                        issued: 0,
                        write: req.write,
                        arrival: now,
                    });
                    segments += 1;
                }
            }
        });
        self.requests[slot] = Some(Pending {
            id: req.id,
            segments,
            done: self.now,
        });
        self.outstanding += 1;
        self.arrived_since_calibration = true;
        if req.write {
            self.bytes_written += req.bytes;
        } else {
            self.bytes_read += req.bytes;
        }
        Ok(())
    }

    /// Advance one DRAM clock cycle.
    pub fn tick(&mut self) {
        self.advance_to(self.now() + 1);
    }

    /// Advance to `cycle` (no-op if it is not later than now).
    pub fn advance_to(&mut self, cycle: u64) {
        let target = i64::try_from(cycle).unwrap_or(i64::MAX - 1);
        if target <= self.now {
            return;
        }
        self.run(target);
        self.now = target;
    }

    /// Run until every submitted request has completed; returns that cycle (now, if none were
    /// outstanding), which becomes the model's current cycle.
    pub fn run_until_idle(&mut self) -> u64 {
        self.run(i64::MAX);
        if self.outstanding > 0 {
            self.now = self.now.max(self.latest);
        }
        self.now as u64
    }

    fn run(&mut self, target: i64) {
        self.calibrate_if_needed();
        let cals = [
            self.calibrations[0].clone().flatten(),
            self.calibrations[1].clone().flatten(),
        ];
        for (u, unit) in self.units.iter_mut().enumerate() {
            if target < self.quiet_until[u] {
                continue;
            }
            if self.options.fast_path && target != i64::MAX {
                unit.skip_idle_refresh(target);
            }
            loop {
                if try_jump(unit, &cals) {
                    continue;
                }
                if !unit.step(target) {
                    break;
                }
            }
            if self.options.incremental {
                self.quiet_until[u] = unit.quiet_until();
            }
            for (slot, done) in unit.finished.drain(..) {
                let p = self.requests[slot].as_mut().expect("a live request");
                p.done = p.done.max(done);
                p.segments -= 1;
                if p.segments == 0 {
                    let p = self.requests[slot].take().expect("live");
                    self.free.push(slot);
                    self.latest = self.latest.max(p.done);
                    self.completions.push(Reverse(Completion {
                        cycle: p.done as u64,
                        id: p.id,
                    }));
                }
            }
        }
    }

    /// Calibrate the fast path for a direction the first time a unit holds a long stream in it
    /// (looked for when requests have arrived: only they lengthen a queue).
    fn calibrate_if_needed(&mut self) {
        if !self.options.fast_path
            || !std::mem::take(&mut self.arrived_since_calibration)
            || self.calibrations.iter().all(Option::is_some)
        {
            return;
        }
        let bpr = self.params.geometry.bursts_per_rowset();
        for write in [false, true] {
            let i = usize::from(write);
            if self.calibrations[i].is_some() {
                continue;
            }
            let wants = self.units.iter().any(|u| {
                let queued: u64 = u
                    .queue
                    .iter()
                    .take(64)
                    .filter(|s| s.write == write)
                    .map(|s| s.count - s.issued)
                    .sum();
                queued >= 2 * bpr + self.params.lookahead
            });
            if wants {
                self.calibrations[i] = Some(calibrate(&self.params, write).map(Arc::new));
                // The trigger counts bursts not yet issued; settled, it no longer cares, and
                // column runs in this direction may issue ahead of the target.
                for u in &mut self.units {
                    u.ahead[i] = true;
                }
            }
        }
    }

    /// Completions whose cycle has passed, earliest first.
    pub fn poll_completions(&mut self) -> Vec<Completion> {
        let mut out = Vec::new();
        while let Some(Reverse(c)) = self.completions.peek() {
            if c.cycle > self.now as u64 {
                break;
            }
            out.push(*c);
            self.completions.pop();
            self.outstanding -= 1;
        }
        out
    }

    /// The earliest completion already known (it may lie ahead of now), if any.
    pub fn next_completion_cycle(&self) -> Option<u64> {
        self.completions.peek().map(|Reverse(c)| c.cycle)
    }

    /// The last cycle up to which every completion is already known (`u64::MAX` with nothing
    /// outstanding): a request completes a fixed latency (`nCL + nBL` or `nCWL + nBL`) after its
    /// last column command, and every command up to now has been scheduled; a pseudo-channel
    /// whose schedule is already committed further ahead (a fast-path jump) issues nothing
    /// before its last command. So no request completes before the earliest of those, plus the
    /// latency, unless it is already pollable or in [`DramModel::next_completion_cycle`]. A
    /// caller that reacts to completions (and submits new requests at the cycle it sees them)
    /// advances at most to this horizon while no completion is known.
    pub fn known_completions_through(&self) -> u64 {
        let p = &self.params;
        let mut horizon = i64::MAX;
        for u in self.units.iter().filter(|u| !u.queue.is_empty()) {
            let write = u.writes_queued > 0;
            let latency = if write {
                p.read_latency.min(p.write_latency)
            } else {
                p.read_latency
            };
            // A unit whose column run issued ahead of the target counts as one that stopped at
            // it: the horizon, and with it every cycle the model is advanced to, stays what it
            // is without the shortcut (an idle unit's refreshes depend on those cycles).
            let next = if u.ahead_of_target {
                self.now
            } else {
                self.now.max(u.floor)
            };
            horizon = horizon.min(next + latency.max(1) - 1);
        }
        horizon as u64
    }

    /// Statistics since the model was created.
    pub fn stats(&self) -> DramStats {
        let counters: Vec<Counters> = self.units.iter().map(|u| u.counters).collect();
        DramStats::from_units(
            &self.standard,
            &counters,
            self.now as u64,
            self.bytes_read,
            self.bytes_written,
        )
    }

    /// Every command scheduled so far (with [`DramOptions::trace`]), in cycle order.
    pub fn trace(&self) -> Vec<CommandRecord> {
        let pcs = self.mapping.pseudo_channels as usize;
        let mut out: Vec<CommandRecord> = self
            .units
            .iter()
            .enumerate()
            .flat_map(|(u, unit)| {
                unit.trace.iter().map(move |r| CommandRecord {
                    cycle: r.cycle as u64,
                    channel: (u / pcs) as u32,
                    pseudo_channel: (u % pcs) as u32,
                    command: r.command,
                    bank_group: r.bank_group,
                    bank: r.bank,
                    row: r.row,
                })
            })
            .collect();
        out.sort_by_key(|r| (r.cycle, r.channel, r.pseudo_channel));
        out
    }
}
