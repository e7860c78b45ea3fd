//! [`DramMemory`]: the far side of the core's memory port, holding the device's DRAM contents
//! and timing every request with the simulator's DRAM model.
//!
//! **Contents.** The program's memory map is held in the simulator's own store
//! ([`tokenfab_sim::dram::Dram`]: the image, the sparse KV-cache and logits regions), plus the
//! instruction words in the range [`super::RtlDevice`] places them (past every region of the
//! map). Data moves at the handshake: a write beat lands in the store the edge it is taken, a
//! read beat is read from the store the cycle it is delivered, so reads always see every earlier
//! write. A read byte outside the map reads as zero and a write byte outside the writable regions
//! is dropped; either is remembered as a [`MemoryFault`] that the device reports after the
//! launch (a program that does this is wrong, and the RTL must not hide it).
//!
//! **Timing.** Every request goes through a [`DramModel`] of the configuration's memory
//! standard, channels and interleave — the model the timing simulator uses — at the DRAM's own
//! clock, converted to core cycles exactly as `tokenfab_sim::timing::port` does: a request
//! taken at core cycle `t` reaches the controller at the first DRAM edge at or after `t`
//! ([`Clocks::dram_at_or_after`]), and data the DRAM transfers at DRAM cycle `d` is seen at the
//! first core edge at or after `d` ([`Clocks::core_at_or_after`]).
//! - A read request is submitted as one DRAM request per burst it touches (cut at multiples of
//!   the standard's `bytes_per_burst`), so each beat becomes available when the burst holding
//!   it has crossed the bus, not when the whole request has. Beats are delivered in request
//!   order, at most one per core cycle, each no earlier than its data is there.
//! - A write request's beats are taken one per cycle (`mem_wready` is high while a write request
//!   still expects data); the write is submitted to the DRAM model when its last beat is taken
//!   (a posted write: the core has no write response and never waits for one).
//! - The request queue is bounded: `mem_req_ready` is low while [`PortTiming::queue_depth`]
//!   requests are open (a read until its last beat is delivered, a write until the DRAM model
//!   completes it).
//!
//! [`DramMemory::begin_launch`] restarts the timing from an idle DRAM at cycle 0 (banks closed,
//! refresh at its phase origin), as the timing model times every step; the contents stay.

use std::collections::{HashMap, VecDeque};

use tokenfab_hw::system::PortMemory;
use tokenfab_isa::program::{MemoryMap, Region};
use tokenfab_sim::dram::Dram;
use tokenfab_sim::dram_timing::{DramError, DramModel, MemoryStandard, Request};
use tokenfab_sim::timing::Clocks;

/// Bytes of one beat of the memory port.
pub const BEAT_BYTES: u64 = 8;

/// The first access the core made outside the memory map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryFault {
    pub write: bool,
    /// Byte address of the beat.
    pub addr: u64,
}

/// One open read request: beats not yet delivered.
struct ReadBeat {
    addr: u64,
    /// The DRAM request (one burst) holding it.
    sub: u64,
    /// The last beat of its port request.
    last: bool,
}

/// One open write request.
struct Write {
    addr: u64,
    beats: u64,
    taken: u64,
}

/// What one DRAM request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sub {
    Read,
    Write,
}

/// How the port is timed: the memory system of the configuration and the two clocks.
#[derive(Clone, Debug)]
pub struct PortTiming {
    pub standard: MemoryStandard,
    pub channels: usize,
    pub interleave_bytes: usize,
    pub clocks: Clocks,
    /// Requests the port accepts before `mem_req_ready` goes low.
    pub queue_depth: usize,
}

/// The device's DRAM behind the core's memory port, timed by the simulator's DRAM model.
pub struct DramMemory {
    dram: Dram,
    program: Region,
    program_bytes: Vec<u8>,
    timing: PortTiming,
    model: DramModel,
    burst: u64,
    /// Core cycles since the timing origin ([`DramMemory::begin_launch`]).
    now: u64,
    next_id: u64,
    subs: HashMap<u64, Sub>,
    /// Core cycle at which each completed read burst is seen.
    arrived: HashMap<u64, u64>,
    reads: VecDeque<ReadBeat>,
    open_reads: usize,
    /// Writes still taking data, oldest first.
    writes: VecDeque<Write>,
    /// Writes submitted to the DRAM model and not yet completed.
    writes_in_dram: usize,
    fault: Option<MemoryFault>,
    /// Requests and beats since creation, for reports.
    pub counts: Counts,
}

/// Traffic through the port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub read_requests: u64,
    pub write_requests: u64,
    pub read_beats: u64,
    pub write_beats: u64,
    /// Cycles `mem_req_ready` was low because the queue was full.
    pub full_cycles: u64,
}

impl DramMemory {
    /// DRAM holding `image` laid out by `map` and the instruction bytes `program_bytes` at
    /// `program.base`, timed as `timing` says.
    pub fn new(
        map: &MemoryMap,
        image: Vec<u8>,
        program: Region,
        program_bytes: Vec<u8>,
        mut timing: PortTiming,
    ) -> Result<Self, DramError> {
        let model = Self::model(&timing)?;
        let burst = u64::from(timing.standard.organisation.bytes_per_burst).max(BEAT_BYTES);
        timing.queue_depth = timing.queue_depth.max(1);
        Ok(DramMemory {
            dram: Dram::new(map, image),
            program,
            program_bytes,
            timing,
            model,
            burst,
            now: 0,
            next_id: 0,
            subs: HashMap::new(),
            arrived: HashMap::new(),
            reads: VecDeque::new(),
            open_reads: 0,
            writes: VecDeque::new(),
            writes_in_dram: 0,
            fault: None,
            counts: Counts::default(),
        })
    }

    /// The contents (read the logits, inspect the KV cache).
    pub fn dram(&self) -> &Dram {
        &self.dram
    }

    pub fn dram_mut(&mut self) -> &mut Dram {
        &mut self.dram
    }

    fn model(t: &PortTiming) -> Result<DramModel, DramError> {
        DramModel::new(&t.standard, t.channels, t.interleave_bytes)
    }

    pub fn timing(&self) -> &PortTiming {
        &self.timing
    }

    /// Core cycles since the timing origin.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The first access outside the memory map since the last call, if any.
    pub fn take_fault(&mut self) -> Option<MemoryFault> {
        self.fault.take()
    }

    /// Write beats the core announced and has not sent.
    pub fn pending_write_beats(&self) -> u64 {
        self.writes.iter().map(|w| w.beats - w.taken).sum()
    }

    /// Restart the timing: an idle DRAM at cycle 0, nothing in flight.
    pub fn begin_launch(&mut self) -> Result<(), DramError> {
        self.model = Self::model(&self.timing)?;
        self.now = 0;
        self.subs.clear();
        self.arrived.clear();
        self.reads.clear();
        self.open_reads = 0;
        self.writes.clear();
        self.writes_in_dram = 0;
        Ok(())
    }

    /// Bring the DRAM model to the DRAM edge at or after the current core cycle and collect what
    /// completed (as `Port::sync`); a request submitted next arrives at that edge.
    fn sync(&mut self) {
        let clocks = self.timing.clocks;
        self.model.advance_to(clocks.dram_at_or_after(self.now));
        for c in self.model.poll_completions() {
            match self.subs.remove(&c.id) {
                Some(Sub::Read) => {
                    self.arrived.insert(c.id, clocks.core_at_or_after(c.cycle));
                }
                Some(Sub::Write) => self.writes_in_dram -= 1,
                None => {}
            }
        }
    }

    fn submit(&mut self, addr: u64, bytes: u64, sub: Sub) {
        let id = self.next_id;
        self.next_id += 1;
        let req = Request {
            addr,
            bytes,
            write: sub == Sub::Write,
            id,
        };
        // The port's addresses are 32-bit and beats are whole, so a request is never empty and
        // never wraps: the model cannot refuse it.
        self.model
            .submit(req)
            .expect("a port request is a valid DRAM request");
        self.subs.insert(id, sub);
    }

    fn open(&self) -> usize {
        self.open_reads + self.writes.len() + self.writes_in_dram
    }

    /// The byte at `addr`: (value, whether it is mapped).
    fn byte(&self, addr: u64) -> (u8, bool) {
        if addr >= self.program.base && addr < self.program.end() {
            let i = (addr - self.program.base) as usize;
            return (self.program_bytes.get(i).copied().unwrap_or(0), true);
        }
        let mut b = [0u8];
        match self.dram.read_into(addr, &mut b) {
            Ok(_) => (b[0], true),
            Err(_) => (0, false),
        }
    }

    /// The beat at `addr` (bytes outside the map read as zero; a beat with none inside is a
    /// fault).
    fn read_beat(&mut self, addr: u64) -> u64 {
        let mut out = [0u8; BEAT_BYTES as usize];
        // The common case, a beat wholly inside one region, in one lookup.
        if self.dram.read_into(addr, &mut out).is_ok() {
            return u64::from_le_bytes(out);
        }
        let mut any = false;
        for (i, o) in out.iter_mut().enumerate() {
            let (v, mapped) = self.byte(addr + i as u64);
            *o = v;
            any |= mapped;
        }
        if !any {
            self.fault.get_or_insert(MemoryFault { write: false, addr });
        }
        u64::from_le_bytes(out)
    }
}

impl PortMemory for DramMemory {
    fn drive(&mut self) -> (bool, bool, Option<u64>) {
        if self.model.outstanding() > 0 {
            self.sync();
        }
        let due = self
            .reads
            .front()
            .and_then(|b| self.arrived.get(&b.sub))
            .is_some_and(|&t| t <= self.now);
        let beat = if due {
            let b = self.reads.pop_front().expect("a due beat");
            if self.reads.front().is_none_or(|n| n.sub != b.sub) {
                self.arrived.remove(&b.sub);
            }
            if b.last {
                self.open_reads -= 1;
            }
            self.counts.read_beats += 1;
            Some(self.read_beat(b.addr))
        } else {
            None
        };
        let ready = self.open() < self.timing.queue_depth;
        if !ready {
            self.counts.full_cycles += 1;
        }
        (ready, !self.writes.is_empty(), beat)
    }

    fn request(&mut self, write: bool, addr: u32, beats: u8) {
        let (addr, beats) = (u64::from(addr), u64::from(beats.max(1)));
        if write {
            self.counts.write_requests += 1;
            self.writes.push_back(Write {
                addr,
                beats,
                taken: 0,
            });
            return;
        }
        self.counts.read_requests += 1;
        self.sync();
        let end = addr + beats * BEAT_BYTES;
        let mut at = addr;
        while at < end {
            let to = ((at / self.burst + 1) * self.burst).min(end);
            let sub = self.next_id;
            self.submit(at, to - at, Sub::Read);
            let mut a = at;
            while a < to {
                self.reads.push_back(ReadBeat {
                    addr: a,
                    sub,
                    last: a + BEAT_BYTES >= end,
                });
                a += BEAT_BYTES;
            }
            at = to;
        }
        self.open_reads += 1;
    }

    fn write_beat(&mut self, data: u64, strb: u8) {
        let Some(w) = self.writes.front_mut() else {
            return;
        };
        let addr = w.addr + w.taken * BEAT_BYTES;
        w.taken += 1;
        let done = w.taken == w.beats;
        self.counts.write_beats += 1;
        let bytes = data.to_le_bytes();
        // The common case, a whole beat inside one writable region, in one lookup.
        if strb != 0xff || self.dram.write(addr, &bytes).is_err() {
            for (i, byte) in bytes.iter().enumerate() {
                if strb >> i & 1 == 1 && self.dram.write(addr + i as u64, &[*byte]).is_err() {
                    self.fault.get_or_insert(MemoryFault { write: true, addr });
                }
            }
        }
        if done {
            let w = self.writes.pop_front().expect("the front write");
            self.sync();
            self.submit(w.addr, w.beats * BEAT_BYTES, Sub::Write);
            self.writes_in_dram += 1;
        }
    }

    fn tick(&mut self) {
        self.now += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenfab_isa::program::KvMap;

    const KV: Region = Region {
        base: 0x1_0000,
        bytes: 0x1000,
    };

    /// The tiny preset's memory system (SDR SDRAM, one channel) seen from its 100 MHz core.
    fn timing(queue_depth: usize) -> PortTiming {
        let standard = MemoryStandard::preset("sdr-sdram").unwrap();
        let clocks = Clocks::new(100e6, &standard.name, standard.clock.tck_ps).unwrap();
        PortTiming {
            standard,
            channels: 1,
            interleave_bytes: 64,
            clocks,
            queue_depth,
        }
    }

    fn memory(queue_depth: usize) -> DramMemory {
        let map = MemoryMap {
            image: Region {
                base: 0,
                bytes: 0x1000,
            },
            kv: KvMap {
                region: KV,
                slots: 1,
                ctx: 1,
                heads: 1,
                head_dim: 1,
                layers: 0,
                layer_bases: vec![],
            },
            logits: Region {
                base: 0x2_0000,
                bytes: 64,
            },
        };
        let image = (0..0x1000).map(|i| (i * 7 % 251) as u8).collect();
        let program = Region {
            base: 0x3_0000,
            bytes: 16,
        };
        DramMemory::new(&map, image, program, vec![0xAB; 16], timing(queue_depth)).unwrap()
    }

    fn word(addr: u64) -> u64 {
        u64::from_le_bytes(std::array::from_fn(|i| ((addr + i as u64) * 7 % 251) as u8))
    }

    /// One cycle of a core that sends `req` (if the port is ready) and no write data; the beat
    /// delivered, if any.
    fn cycle(m: &mut DramMemory, req: Option<(u32, u8)>) -> (bool, Option<u64>) {
        let (ready, _, beat) = m.drive();
        if let (true, Some((addr, beats))) = (ready, req) {
            m.request(false, addr, beats);
        }
        m.tick();
        (ready, beat)
    }

    #[test]
    fn read_beats_come_in_order_one_a_cycle_when_their_burst_has_arrived() {
        let mut m = memory(4);
        let (addr, beats) = (0x108u64, 16u64);
        cycle(&mut m, Some((addr as u32, beats as u8)));
        let mut got = Vec::new();
        for t in 1..2000u64 {
            if let (_, Some(b)) = cycle(&mut m, None) {
                got.push((t, b));
            }
        }
        let data: Vec<u64> = got.iter().map(|&(_, b)| b).collect();
        let want: Vec<u64> = (0..beats).map(|i| word(addr + 8 * i)).collect();
        assert_eq!(data, want);
        // The reference: the same bursts (16 bytes each; the first is half used) submitted to
        // the DRAM model at cycle 0, each seen at the first core edge after it completes.
        let t = timing(4);
        let mut dram = DramModel::new(&t.standard, 1, 64).unwrap();
        let bursts = [(0x108, 8), (0x110, 16), (0x120, 16), (0x130, 16)];
        let mut bursts: Vec<(u64, u64)> = bursts.to_vec();
        bursts.extend((0..4).map(|i| (0x140 + 16 * i, 16)));
        bursts.push((0x180, 8));
        for (id, &(addr, bytes)) in bursts.iter().enumerate() {
            let id = id as u64;
            dram.submit(Request {
                addr,
                bytes,
                write: false,
                id,
            })
            .unwrap();
        }
        dram.run_until_idle();
        let mut arrival = vec![0; bursts.len()];
        for c in dram.poll_completions() {
            arrival[c.id as usize] = t.clocks.core_at_or_after(c.cycle);
        }
        let mut prev = 0;
        for (i, &(at, _)) in got.iter().enumerate() {
            let a = addr + 8 * i as u64;
            let burst = bursts
                .iter()
                .position(|&(b, n)| a >= b && a < b + n)
                .unwrap();
            let due = arrival[burst].max(prev + 1);
            assert_eq!(at, due, "beat {i}");
            prev = at;
        }
        assert_eq!(m.counts.read_beats, beats);
    }

    #[test]
    fn the_request_queue_is_bounded() {
        let mut m = memory(2);
        assert!(cycle(&mut m, Some((0, 2))).0);
        assert!(cycle(&mut m, Some((16, 2))).0);
        // Two reads open: not ready until the first has delivered its last beat.
        let (ready, _) = cycle(&mut m, Some((32, 2)));
        assert!(!ready);
        let mut beats = 0;
        for _ in 0..1000 {
            let (ready, beat) = cycle(&mut m, None);
            beats += beat.is_some() as u32;
            if ready {
                break;
            }
        }
        // Ready again the cycle the first request's last beat goes out.
        assert_eq!(beats, 2);
        assert!(cycle(&mut m, Some((32, 2))).0);
        assert!(m.counts.full_cycles > 0);
    }

    #[test]
    fn writes_land_at_the_handshake_and_stray_accesses_are_faults() {
        let mut m = memory(4);
        let at = KV.base + 8;
        m.request(true, at as u32, 2);
        let (_, wready, _) = m.drive();
        assert!(wready);
        m.write_beat(0x0807_0605_0403_0201, 0xff);
        m.tick();
        m.drive();
        m.write_beat(0x1817_1615_1413_1211, 0x0f);
        m.tick();
        let (_, wready, _) = m.drive();
        assert!(!wready);
        assert_eq!(m.pending_write_beats(), 0);
        let got = m.dram().read(at, 16).unwrap();
        assert_eq!(
            got,
            [1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0, 0, 0, 0]
        );
        assert_eq!(m.take_fault(), None);
        // The image is read-only to the core; a read outside every region reads zero.
        m.request(true, 0x100, 1);
        m.drive();
        m.write_beat(1, 0xff);
        assert_eq!(
            m.take_fault(),
            Some(MemoryFault {
                write: true,
                addr: 0x100
            })
        );
        assert_eq!(m.read_beat(0x5_0000), 0);
        assert_eq!(
            m.take_fault(),
            Some(MemoryFault {
                write: false,
                addr: 0x5_0000
            })
        );
        // The instruction words are mapped.
        assert_eq!(m.read_beat(0x3_0008), u64::from_le_bytes([0xAB; 8]));
        assert_eq!(m.take_fault(), None);
    }
}
