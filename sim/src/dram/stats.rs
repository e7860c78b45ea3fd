//! Counters of a unit, and the statistics and energy of a whole memory system.
//!
//! Energy follows the standard's figures: every burst read or written costs its bits times the
//! read or write pJ/bit, every activate `activate_pj`, every refresh command `refresh_pj`, and
//! every channel draws `background_mw` for the whole elapsed time.

use super::standard::MemoryStandard;

/// What one unit (pseudo-channel) did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub activates: u64,
    pub precharges: u64,
    pub read_bursts: u64,
    pub write_bursts: u64,
    pub row_hits: u64,
    pub row_misses: u64,
    pub refreshes: u64,
}

impl Counters {
    pub fn add(&mut self, o: &Counters) {
        self.activates += o.activates;
        self.precharges += o.precharges;
        self.read_bursts += o.read_bursts;
        self.write_bursts += o.write_bursts;
        self.row_hits += o.row_hits;
        self.row_misses += o.row_misses;
        self.refreshes += o.refreshes;
    }

    /// `self - o`, field by field (for a later snapshot minus an earlier one).
    pub fn since(&self, o: &Counters) -> Counters {
        Counters {
            activates: self.activates - o.activates,
            precharges: self.precharges - o.precharges,
            read_bursts: self.read_bursts - o.read_bursts,
            write_bursts: self.write_bursts - o.write_bursts,
            row_hits: self.row_hits - o.row_hits,
            row_misses: self.row_misses - o.row_misses,
            refreshes: self.refreshes - o.refreshes,
        }
    }

    pub fn scaled(&self, k: u64) -> Counters {
        Counters {
            activates: self.activates * k,
            precharges: self.precharges * k,
            read_bursts: self.read_bursts * k,
            write_bursts: self.write_bursts * k,
            row_hits: self.row_hits * k,
            row_misses: self.row_misses * k,
            refreshes: self.refreshes * k,
        }
    }
}

/// Energy in picojoules, split by cause.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DramEnergy {
    pub activate_pj: f64,
    pub read_write_pj: f64,
    pub refresh_pj: f64,
    pub background_pj: f64,
}

impl DramEnergy {
    pub fn total_pj(&self) -> f64 {
        self.activate_pj + self.read_write_pj + self.refresh_pj + self.background_pj
    }
}

/// Statistics of a memory system since it was created.
#[derive(Clone, Debug, PartialEq)]
pub struct DramStats {
    /// Elapsed DRAM clock cycles (the model's current cycle).
    pub cycles: u64,
    /// Seconds per cycle.
    pub tck_s: f64,
    /// Bytes requested (a partly used burst still moves whole; see `*_bursts`).
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub read_bursts: u64,
    pub write_bursts: u64,
    /// Bytes one burst moves.
    pub bytes_per_burst: u64,
    pub activates: u64,
    pub precharges: u64,
    pub row_hits: u64,
    pub row_misses: u64,
    pub refreshes: u64,
    /// Per channel: cycles its data bus carried data (averaged over its pseudo-channels), so
    /// `busy_cycles[c] / cycles` is channel `c`'s utilisation.
    pub busy_cycles: Vec<u64>,
    pub energy: DramEnergy,
}

impl DramStats {
    /// Build the statistics from per-unit counters (`units[c * pcs + pc]`).
    pub fn from_units(
        standard: &MemoryStandard,
        units: &[Counters],
        cycles: u64,
        bytes_read: u64,
        bytes_written: u64,
    ) -> Self {
        let pcs = standard.organisation.pseudo_channels as usize;
        let mut total = Counters::default();
        for u in units {
            total.add(u);
        }
        let n_bl = u64::from(standard.n_bl());
        let busy_cycles = units
            .chunks(pcs)
            .map(|ch| {
                ch.iter()
                    .map(|u| (u.read_bursts + u.write_bursts) * n_bl)
                    .sum::<u64>()
                    / pcs as u64
            })
            .collect::<Vec<_>>();
        let e = &standard.energy;
        let bits_per_burst = f64::from(standard.organisation.bytes_per_burst) * 8.0;
        let seconds = cycles as f64 * standard.tck_s();
        let energy = DramEnergy {
            activate_pj: total.activates as f64 * e.activate_pj,
            read_write_pj: bits_per_burst
                * (total.read_bursts as f64 * e.read_pj_per_bit
                    + total.write_bursts as f64 * e.write_pj_per_bit),
            refresh_pj: total.refreshes as f64 * e.refresh_pj,
            background_pj: e.background_mw * 1e-3 * busy_cycles.len() as f64 * seconds * 1e12,
        };
        DramStats {
            cycles,
            tck_s: standard.tck_s(),
            bytes_read,
            bytes_written,
            read_bursts: total.read_bursts,
            write_bursts: total.write_bursts,
            bytes_per_burst: u64::from(standard.organisation.bytes_per_burst),
            activates: total.activates,
            precharges: total.precharges,
            row_hits: total.row_hits,
            row_misses: total.row_misses,
            refreshes: total.refreshes,
            busy_cycles,
            energy,
        }
    }

    pub fn seconds(&self) -> f64 {
        self.cycles as f64 * self.tck_s
    }
}
