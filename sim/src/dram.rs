//! DRAM as the program's memory map lays it out: the read-only image, the KV-cache regions and
//! the logits region, each stored on its own.
//!
//! Only those three regions exist for the simulator; an access that is not wholly inside one of
//! them is an error (the configured capacity may be 16–80 GiB, and nothing outside the map is
//! ever meant to be touched). The image is the program's bytes; the writable regions are stored
//! sparsely in [`PAGE_BYTES`] pages allocated on first write, so a large KV region costs only
//! what a run actually writes, and unwritten bytes read as zero (the KV regions start zeroed).
//!
//! The image is read-only during a launch: weight streams may be fetched ahead of program order
//! (the ISA's one exception to in-order semantics), which is only well defined if nothing writes
//! what they read.

use std::collections::HashMap;

use tokenfab_isa::program::{MemoryMap, Region};

use crate::error::ExecError;

/// Bytes of one page of a writable region.
pub const PAGE_BYTES: u64 = 1 << 16;

/// A writable region stored as pages allocated on first write.
#[derive(Clone, Debug, Default)]
struct Paged {
    pages: HashMap<u64, Box<[u8]>>,
}

impl Paged {
    fn read(&self, offset: u64, out: &mut [u8]) {
        let mut done = 0usize;
        while done < out.len() {
            let at = offset + done as u64;
            let (page, within) = (at / PAGE_BYTES, (at % PAGE_BYTES) as usize);
            let n = (PAGE_BYTES as usize - within).min(out.len() - done);
            match self.pages.get(&page) {
                Some(p) => out[done..done + n].copy_from_slice(&p[within..within + n]),
                None => out[done..done + n].fill(0),
            }
            done += n;
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let mut done = 0usize;
        while done < data.len() {
            let at = offset + done as u64;
            let (page, within) = (at / PAGE_BYTES, (at % PAGE_BYTES) as usize);
            let n = (PAGE_BYTES as usize - within).min(data.len() - done);
            let p = self
                .pages
                .entry(page)
                .or_insert_with(|| vec![0u8; PAGE_BYTES as usize].into_boxed_slice());
            p[within..within + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
    }

    fn resident_bytes(&self) -> u64 {
        self.pages.len() as u64 * PAGE_BYTES
    }
}

/// Which region an access falls in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    Image,
    Kv,
    Logits,
}

/// The simulated DRAM.
#[derive(Clone, Debug)]
pub struct Dram {
    image: Vec<u8>,
    image_region: Region,
    kv_region: Region,
    kv: Paged,
    logits_region: Region,
    logits: Paged,
}

impl Dram {
    /// DRAM holding `image` at address 0 and the (zeroed) KV and logits regions of `map`.
    pub fn new(map: &MemoryMap, image: Vec<u8>) -> Self {
        Dram {
            image,
            image_region: map.image,
            kv_region: map.kv.region,
            kv: Paged::default(),
            logits_region: map.logits,
            logits: Paged::default(),
        }
    }

    /// The region wholly containing `[addr, addr + len)`.
    pub fn region_of(&self, addr: u64, len: u64) -> Result<(RegionKind, u64), ExecError> {
        let end = addr.checked_add(len);
        for (kind, r) in [
            (RegionKind::Image, self.image_region),
            (RegionKind::Kv, self.kv_region),
            (RegionKind::Logits, self.logits_region),
        ] {
            if addr >= r.base && end.is_some_and(|e| e <= r.end()) && r.bytes > 0 {
                return Ok((kind, addr - r.base));
            }
        }
        Err(ExecError::Unmapped {
            addr,
            len,
            map: self.describe(),
        })
    }

    /// `image [a, b), kv [c, d), logits [e, f)` for error messages.
    fn describe(&self) -> String {
        let r = |name: &str, r: Region| format!("{name} [0x{:x}, 0x{:x})", r.base, r.end());
        format!(
            "{}, {}, {}",
            r("image", self.image_region),
            r("kv", self.kv_region),
            r("logits", self.logits_region)
        )
    }

    /// Read `out.len()` bytes at `addr`.
    pub fn read_into(&self, addr: u64, out: &mut [u8]) -> Result<RegionKind, ExecError> {
        let (kind, offset) = self.region_of(addr, out.len() as u64)?;
        match kind {
            RegionKind::Image => {
                // The image vector may be shorter than its region only for a program that
                // `Program::check` would reject; treat the missing tail as unmapped.
                let src = usize::try_from(offset)
                    .ok()
                    .and_then(|o| self.image.get(o..o.checked_add(out.len())?))
                    .ok_or_else(|| ExecError::Unmapped {
                        addr,
                        len: out.len() as u64,
                        map: self.describe(),
                    })?;
                out.copy_from_slice(src);
            }
            RegionKind::Kv => self.kv.read(offset, out),
            RegionKind::Logits => self.logits.read(offset, out),
        }
        Ok(kind)
    }

    /// Read `len` bytes at `addr`.
    pub fn read(&self, addr: u64, len: u64) -> Result<Vec<u8>, ExecError> {
        // Region lookup first, so an absurd length is an error and not an allocation.
        self.region_of(addr, len)?;
        let mut out = vec![0u8; len as usize];
        self.read_into(addr, &mut out)?;
        Ok(out)
    }

    /// Write `data` at `addr` (the image is read-only).
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<RegionKind, ExecError> {
        let (kind, offset) = self.region_of(addr, data.len() as u64)?;
        match kind {
            RegionKind::Image => {
                return Err(ExecError::ReadOnly {
                    addr,
                    len: data.len() as u64,
                    image_end: self.image_region.end(),
                })
            }
            RegionKind::Kv => self.kv.write(offset, data),
            RegionKind::Logits => self.logits.write(offset, data),
        }
        Ok(kind)
    }

    /// The image bytes, mutable: for tests that corrupt a weight in place.
    pub fn image_mut(&mut self) -> &mut [u8] {
        &mut self.image
    }

    /// The image's extent.
    pub fn image_region(&self) -> Region {
        self.image_region
    }

    /// Zero every KV region (a fresh cache for every slot).
    pub fn reset_kv(&mut self) {
        self.kv = Paged::default();
    }

    /// Bytes of writable-region pages actually allocated.
    pub fn resident_bytes(&self) -> u64 {
        self.kv.resident_bytes() + self.logits.resident_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenfab_isa::program::KvMap;

    fn map() -> MemoryMap {
        MemoryMap {
            image: Region { base: 0, bytes: 16 },
            kv: KvMap {
                region: Region {
                    base: 1 << 20,
                    bytes: 40 << 30, // 40 GiB: must cost nothing until written
                },
                slots: 1,
                ctx: 1,
                heads: 1,
                head_dim: 1,
                layers: 0,
                layer_bases: vec![],
            },
            logits: Region {
                base: 64,
                bytes: 64,
            },
        }
    }

    #[test]
    fn regions_are_sparse_zeroed_and_bounded() {
        let mut d = Dram::new(&map(), (0..16).collect());
        assert_eq!(d.read(4, 4).unwrap(), vec![4, 5, 6, 7]);
        // A write straddling a page boundary deep inside the KV region reads back.
        let at = (1 << 20) + 7 * PAGE_BYTES - 3;
        d.write(at, &[1, 2, 3, 4, 5, 6]).unwrap();
        assert_eq!(d.read(at - 1, 8).unwrap(), vec![0, 1, 2, 3, 4, 5, 6, 0]);
        assert_eq!(d.resident_bytes(), 2 * PAGE_BYTES);
        d.reset_kv();
        assert_eq!(d.read(at, 2).unwrap(), vec![0, 0]);
        assert!(matches!(
            d.write(0, &[1]),
            Err(ExecError::ReadOnly { addr: 0, .. })
        ));
        // Straddling two regions, past the image, and an overflowing length are all unmapped.
        for (addr, len) in [(60u64, 8u64), (16, 1), (u64::MAX - 1, 4), (64, u64::MAX)] {
            let e = d.read(addr, len).unwrap_err();
            assert!(matches!(e, ExecError::Unmapped { .. }), "{e}");
        }
        assert_eq!(
            d.read(200, 1).unwrap_err().to_string(),
            "DRAM access [0xc8, 0xc8+1) is not inside one region of the memory map \
             (image [0x0, 0x10), kv [0x100000, 0xa00100000), logits [0x40, 0x80))"
        );
    }
}
