//! [`SimpleMemory`]: a byte-addressed memory behind the port with a fixed read latency and one
//! beat a cycle each way, for the hardware crate's own tests. The runtime's RTL backend uses the
//! simulator's DRAM timing model instead.

use std::collections::VecDeque;

use super::PortMemory;

/// A flat memory of `bytes` bytes.
pub struct SimpleMemory {
    pub bytes: Vec<u8>,
    latency: u64,
    now: u64,
    /// Read beats due: (cycle it may be delivered, address).
    reads: VecDeque<(u64, u32)>,
    /// Write beats expected: addresses, in order.
    writes: VecDeque<u32>,
    /// Requests taken (reads and writes), for tests that check the traffic.
    pub requests: Vec<(bool, u32, u8)>,
}

impl SimpleMemory {
    pub fn new(bytes: usize, latency: u64) -> Self {
        Self {
            bytes: vec![0; bytes],
            latency,
            now: 0,
            reads: VecDeque::new(),
            writes: VecDeque::new(),
            requests: Vec::new(),
        }
    }

    fn beat(&self, addr: u32) -> u64 {
        let a = addr as usize;
        let mut b = [0u8; 8];
        if let Some(s) = self.bytes.get(a..a + 8) {
            b.copy_from_slice(s);
        }
        u64::from_le_bytes(b)
    }
}

impl PortMemory for SimpleMemory {
    fn drive(&mut self) -> (bool, bool, Option<u64>) {
        let beat = match self.reads.front() {
            Some(&(due, addr)) if due <= self.now => {
                self.reads.pop_front();
                Some(self.beat(addr))
            }
            _ => None,
        };
        (self.reads.len() < 256, !self.writes.is_empty(), beat)
    }

    fn request(&mut self, write: bool, addr: u32, beats: u8) {
        self.requests.push((write, addr, beats));
        for i in 0..beats as u32 {
            let a = addr + 8 * i;
            if write {
                self.writes.push_back(a);
            } else {
                // One beat a cycle after the latency.
                let after = self.reads.back().map_or(0, |&(d, _)| d + 1);
                self.reads
                    .push_back(((self.now + self.latency).max(after), a));
            }
        }
    }

    fn write_beat(&mut self, data: u64, strb: u8) {
        if let Some(a) = self.writes.pop_front() {
            for (i, byte) in data.to_le_bytes().iter().enumerate() {
                if strb >> i & 1 == 1 {
                    if let Some(m) = self.bytes.get_mut(a as usize + i) {
                        *m = *byte;
                    }
                }
            }
        }
    }

    fn tick(&mut self) {
        self.now += 1;
    }
}
