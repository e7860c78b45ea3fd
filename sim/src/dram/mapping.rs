//! Address mapping: from a byte address to channel, pseudo-channel, bank group, bank, row and
//! column.
//!
//! Channels first: the address space is cut into `interleave_bytes` blocks and consecutive blocks
//! go to consecutive channels (the accelerator preset's `dram.channels` and
//! `dram.interleave_bytes`), so a sequential stream spreads over every channel and each channel
//! sees its share as one contiguous *channel-local* address range.
//!
//! Within a channel, from the least significant end, a channel-local address is
//!
//! ```text
//!   | row | bank | column (burst within the row) | bank group | pseudo-channel | byte in burst |
//! ```
//!
//! - the pseudo-channel changes every burst, so both halves of an HBM channel stream together;
//! - the bank group changes every burst (of a pseudo-channel), so back-to-back bursts of a stream
//!   go to different bank groups and are spaced by `nCCD_S`, not the longer `nCCD_L` (on DDR4
//!   and LPDDR5 `nCCD_L` is twice the burst, so a stream held in one bank group would get half
//!   the bandwidth);
//! - the column comes next, so a stream reads one whole row in every bank group before it moves
//!   on: each activate is followed by a row's worth of row-buffer hits;
//! - the bank changes after that, so the next stretch of the stream (the next *row-set*: one row
//!   in each bank group) lives in other banks, which the scheduler activates while the current
//!   ones stream: the row misses of a sequential stream are hidden by bank parallelism;
//! - the row is last; rows beyond the standard's count wrap (a preset may be larger than the
//!   device the standard describes; the timing does not depend on which row it is).
//!
//! After the pseudo-channel is removed, each pseudo-channel sees its bursts as a contiguous
//! *unit-local burst index* `k`: `bank group = k % G`, `column = (k / G) % C`, and the row-set
//! `k / (G * C)` picks `bank = rs % B` and `row = rs / B`. [`Geometry`] does that arithmetic.

use super::standard::MemoryStandard;

/// Where one burst lives inside a pseudo-channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BurstLocation {
    pub bank_group: u32,
    pub bank: u32,
    pub row: u32,
    /// Burst index within the row.
    pub column: u32,
}

impl BurstLocation {
    /// Bank index across bank groups (`bank_group * banks_per_group + bank`).
    pub fn flat_bank(&self, banks_per_group: u32) -> usize {
        (self.bank_group * banks_per_group + self.bank) as usize
    }
}

/// Where one byte address lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub channel: u32,
    pub pseudo_channel: u32,
    pub burst: BurstLocation,
}

/// Division by a fixed divisor: a shift and a mask when it is a power of two (every shipped
/// standard's organisation is), a hardware division otherwise. The scheduler splits burst indices
/// into bank group, column and row-set several times per command, and a 64-bit division costs
/// tens of cycles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Divisor {
    d: u64,
    shift: Option<u32>,
}

impl Divisor {
    /// `d` must be non-zero.
    pub fn new(d: u64) -> Self {
        assert!(d > 0, "a divisor is non-zero");
        Divisor {
            d,
            shift: d.is_power_of_two().then(|| d.trailing_zeros()),
        }
    }

    #[inline]
    pub fn quotient(self, x: u64) -> u64 {
        match self.shift {
            Some(s) => x >> s,
            None => x / self.d,
        }
    }

    #[inline]
    pub fn remainder(self, x: u64) -> u64 {
        match self.shift {
            Some(_) => x & (self.d - 1),
            None => x % self.d,
        }
    }
}

/// The organisation of one pseudo-channel, for burst-index arithmetic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub bank_groups: u32,
    pub banks_per_group: u32,
    pub rows: u32,
    /// Bursts in one row.
    pub bursts_per_row: u64,
    /// `bank_groups`, `banks_per_group`, `bursts_per_row`, [`Geometry::bursts_per_rowset`] and
    /// [`Geometry::rowsets`] as divisors.
    groups: Divisor,
    per_group: Divisor,
    per_row: Divisor,
    per_rowset: Divisor,
    all_rowsets: Divisor,
}

impl Geometry {
    pub fn new(standard: &MemoryStandard) -> Self {
        let o = &standard.organisation;
        let bursts_per_row = u64::from(o.row_bytes / o.bytes_per_burst);
        let (groups, per_group) = (u64::from(o.bank_groups), u64::from(o.banks_per_group));
        Geometry {
            bank_groups: o.bank_groups,
            banks_per_group: o.banks_per_group,
            rows: o.rows,
            bursts_per_row,
            groups: Divisor::new(groups),
            per_group: Divisor::new(per_group),
            per_row: Divisor::new(bursts_per_row),
            per_rowset: Divisor::new(bursts_per_row * groups),
            all_rowsets: Divisor::new(per_group * u64::from(o.rows)),
        }
    }

    /// The row-set of unit-local burst `k`, and `k`'s offset in it.
    #[inline]
    pub fn rowset_of(&self, k: u64) -> (u64, u64) {
        (self.per_rowset.quotient(k), self.per_rowset.remainder(k))
    }

    /// The bank group of unit-local burst `k` (or of offset `k` in a row-set).
    #[inline]
    pub fn group_of(&self, k: u64) -> u32 {
        self.groups.remainder(k) as u32
    }

    pub fn banks(&self) -> u32 {
        self.bank_groups * self.banks_per_group
    }

    /// Bursts in one row-set (one row in every bank group).
    pub fn bursts_per_rowset(&self) -> u64 {
        self.bursts_per_row * u64::from(self.bank_groups)
    }

    /// Row-sets before the mapping wraps (`banks_per_group * rows`).
    pub fn rowsets(&self) -> u64 {
        u64::from(self.banks_per_group) * u64::from(self.rows)
    }

    /// The bank (within each bank group) and row of row-set `rs`.
    #[inline]
    pub fn rowset_bank_row(&self, rs: u64) -> (u32, u32) {
        let rs = self.all_rowsets.remainder(rs);
        (
            self.per_group.remainder(rs) as u32,
            self.per_group.quotient(rs) as u32,
        )
    }

    /// `banks_per_group` as a divisor.
    pub fn per_group(&self) -> Divisor {
        self.per_group
    }

    /// Row-set `rs` within the rows the mapping has (`rs % rowsets`).
    #[inline]
    pub fn wrap_rowset(&self, rs: u64) -> u64 {
        self.all_rowsets.remainder(rs)
    }

    /// Where unit-local burst `k` lives.
    #[inline]
    pub fn locate(&self, k: u64) -> BurstLocation {
        let (bank, row) = self.rowset_bank_row(self.per_rowset.quotient(k));
        BurstLocation {
            bank_group: self.group_of(k),
            bank,
            row,
            column: self.per_row.remainder(self.groups.quotient(k)) as u32,
        }
    }
}

/// Channel and pseudo-channel interleaving of a whole memory system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressMapping {
    pub channels: u64,
    pub interleave_bytes: u64,
    pub pseudo_channels: u64,
    pub bytes_per_burst: u64,
    pub geometry: Geometry,
}

impl AddressMapping {
    pub fn new(standard: &MemoryStandard, channels: u64, interleave_bytes: u64) -> Self {
        AddressMapping {
            channels,
            interleave_bytes,
            pseudo_channels: u64::from(standard.organisation.pseudo_channels),
            bytes_per_burst: u64::from(standard.organisation.bytes_per_burst),
            geometry: Geometry::new(standard),
        }
    }

    /// Where byte `addr` lives.
    pub fn locate(&self, addr: u64) -> Location {
        let block = addr / self.interleave_bytes;
        let local = (block / self.channels) * self.interleave_bytes + addr % self.interleave_bytes;
        let q = local / self.bytes_per_burst;
        Location {
            channel: (block % self.channels) as u32,
            pseudo_channel: (q % self.pseudo_channels) as u32,
            burst: self.geometry.locate(q / self.pseudo_channels),
        }
    }

    /// The channel-local byte range `[lo, hi)` that `[addr, addr + bytes)` puts on `channel`,
    /// if any (`bytes > 0`).
    pub fn channel_range(&self, addr: u64, bytes: u64, channel: u64) -> Option<(u64, u64)> {
        let (c, i) = (self.channels, self.interleave_bytes);
        let last = addr + bytes - 1;
        let (first_block, last_block) = (addr / i, last / i);
        let k0 = first_block + (channel + c - first_block % c) % c;
        if k0 > last_block {
            return None;
        }
        let k1 = last_block - (last_block % c + c - channel) % c;
        let lo = (k0 / c) * i + if k0 == first_block { addr % i } else { 0 };
        let hi = (k1 / c) * i + if k1 == last_block { last % i + 1 } else { i };
        Some((lo, hi))
    }

    /// [`AddressMapping::channel_range`] of every channel, in channel order: `f(channel, lo, hi)`
    /// for each channel the range touches. The same arithmetic with the divisions by the channel
    /// count and the interleave done once per request (a request touches every channel, and a
    /// 64-bit division costs tens of cycles).
    pub fn for_each_channel_range(&self, addr: u64, bytes: u64, mut f: impl FnMut(u64, u64, u64)) {
        let (c, i) = (self.channels, self.interleave_bytes);
        let last = addr + bytes - 1;
        let (first_block, last_block) = (addr / i, last / i);
        let (first_div, first_mod) = (first_block / c, first_block % c);
        let (last_div, last_mod) = (last_block / c, last_block % c);
        let (addr_in, last_in) = (addr % i, last % i);
        for channel in 0..c {
            // `channel_range`'s `(channel + c - first_block % c) % c`, and its `k0 / c`.
            let d0 = if channel >= first_mod {
                channel - first_mod
            } else {
                channel + c - first_mod
            };
            let k0 = first_block + d0;
            if k0 > last_block {
                continue;
            }
            // `(last_block % c + c - channel) % c`, and `k1 / c`.
            let d1 = if last_mod >= channel {
                last_mod - channel
            } else {
                last_mod + c - channel
            };
            let k1 = last_block - d1;
            let k0_div = first_div + u64::from(first_mod + d0 >= c);
            let k1_div = last_div - u64::from(d1 > last_mod);
            let lo = k0_div * i + if k0 == first_block { addr_in } else { 0 };
            let hi = k1_div * i + if k1 == last_block { last_in + 1 } else { i };
            f(channel, lo, hi);
        }
    }

    /// The unit-local bursts `(first, count)` that channel-local bytes `[lo, hi)` put on
    /// `pseudo_channel`, if any. A burst only partly covered is moved whole.
    pub fn unit_bursts(&self, lo: u64, hi: u64, pseudo_channel: u64) -> Option<(u64, u64)> {
        let (p, b) = (
            Divisor::new(self.pseudo_channels),
            Divisor::new(self.bytes_per_burst),
        );
        let pcs = self.pseudo_channels;
        let (q0, q1) = (b.quotient(lo), b.quotient(hi - 1));
        let a = q0 + p.remainder(pseudo_channel + pcs - p.remainder(q0));
        if a > q1 {
            return None;
        }
        let z = q1 - p.remainder(p.remainder(q1) + pcs - pseudo_channel);
        Some((p.quotient(a), p.quotient(z) - p.quotient(a) + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(name: &str, channels: u64, interleave: u64) -> AddressMapping {
        AddressMapping::new(&MemoryStandard::preset(name).unwrap(), channels, interleave)
    }

    #[test]
    fn consecutive_blocks_go_to_consecutive_channels() {
        let m = mapping("lpddr5x", 8, 256);
        for block in 0..64u64 {
            let loc = m.locate(block * 256 + 17);
            assert_eq!(u64::from(loc.channel), block % 8);
        }
        // Within a channel a stream rotates bank groups every burst, then columns, then banks.
        let g = &m.geometry;
        assert_eq!(g.locate(0).bank_group, 0);
        assert_eq!(g.locate(1).bank_group, 1);
        assert_eq!(g.locate(4).column, 1);
        assert_eq!(g.locate(g.bursts_per_rowset()).bank, 1);
        assert_eq!(g.locate(g.bursts_per_rowset() * 4).row, 1);
    }

    #[test]
    fn divisors_agree_with_division() {
        for d in [1u64, 2, 3, 4, 7, 16, 48, 1 << 20] {
            let v = Divisor::new(d);
            for x in [0u64, 1, 2, 5, 15, 16, 17, 1000, u64::MAX - 3, u64::MAX] {
                assert_eq!((v.quotient(x), v.remainder(x)), (x / d, x % d), "{x} / {d}");
            }
        }
    }

    #[test]
    fn pseudo_channels_alternate_every_burst() {
        let m = mapping("hbm3", 2, 256);
        assert_eq!(m.locate(0).pseudo_channel, 0);
        assert_eq!(m.locate(32).pseudo_channel, 1);
        assert_eq!(m.locate(64).pseudo_channel, 0);
        assert_eq!(m.locate(64).burst.bank_group, 1);
    }

    #[test]
    fn channel_ranges_cover_every_byte_exactly_once() {
        let m = mapping("hbm3", 3, 256);
        for (addr, bytes) in [(0u64, 1u64), (100, 300), (255, 2), (1000, 5000), (7, 768)] {
            let mut covered = 0;
            for ch in 0..3 {
                if let Some((lo, hi)) = m.channel_range(addr, bytes, ch) {
                    covered += hi - lo;
                    // The range's first byte is on this channel.
                    let first = (lo / 256) * 3 * 256 + ch * 256 + lo % 256;
                    assert_eq!(u64::from(m.locate(first).channel), ch);
                }
            }
            assert_eq!(covered, bytes, "addr {addr} bytes {bytes}");
        }
    }

    #[test]
    fn channel_ranges_at_once_are_channel_range_of_each_channel() {
        for (channels, interleave) in [(3u64, 256u64), (80, 256), (8, 4096), (1, 64)] {
            let m = mapping("hbm3", channels, interleave);
            for (addr, bytes) in [
                (0u64, 1u64),
                (100, 300),
                (255, 2),
                (1000, 5000),
                (7, 768),
                (0xff30_c600, 133_120),
                (12_345_678, 512_000),
                (3 * 256 * 80 - 1, 256 * 80 + 2),
            ] {
                let mut at_once = Vec::new();
                m.for_each_channel_range(addr, bytes, |ch, lo, hi| at_once.push((ch, lo, hi)));
                let each: Vec<_> = (0..channels)
                    .filter_map(|ch| {
                        m.channel_range(addr, bytes, ch)
                            .map(|(lo, hi)| (ch, lo, hi))
                    })
                    .collect();
                assert_eq!(at_once, each, "{channels} x {interleave}: {addr} + {bytes}");
            }
        }
    }

    #[test]
    fn unit_bursts_split_a_channel_range_between_pseudo_channels() {
        let m = mapping("hbm3", 1, 256);
        // 10 bursts of 32 bytes starting at burst 3: bursts 3..=12.
        let (lo, hi) = (3 * 32, 13 * 32);
        assert_eq!(m.unit_bursts(lo, hi, 0), Some((2, 5))); // 4, 6, 8, 10, 12
        assert_eq!(m.unit_bursts(lo, hi, 1), Some((1, 5))); // 3, 5, 7, 9, 11
        assert_eq!(m.unit_bursts(32, 33, 0), None);
    }
}
