//! The program file format, version [`FORMAT_VERSION`].
//!
//! ```text
//! offset  bytes  field
//!      0      8  magic "TFABPROG"
//!      8      4  format version, u32 LE
//!     12      4  reserved, 0
//!     16      8  manifest length M, u64 LE
//!     24      8  instruction count I, u64 LE
//!     32      8  image length B, u64 LE
//!     40     32  sha256 of the manifest bytes
//!     72     32  sha256 of the instruction bytes
//!    104     32  sha256 of the image bytes
//!    136      M  manifest, UTF-8 JSON
//!  136+M   16*I  instructions, 128-bit LE words (the encoding of `crate::instr`)
//!      …      B  DRAM image
//! ```
//!
//! Reading checks, in order: magic, version, lengths against the file size, each checksum, the
//! manifest's JSON, every instruction's decoding, trailing bytes, then [`Program::check`]'s
//! structural checks. Each failure is one [`ProgramError`] naming the file.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{Manifest, Program, ProgramError};
use crate::instr::{Instr, INSTR_BYTES};

/// The first eight bytes of every program file.
pub const MAGIC: &[u8; 8] = b"TFABPROG";
/// The format this build writes and reads. Bump it on any change to the layout, the manifest's
/// meaning or the instruction encoding.
pub const FORMAT_VERSION: u32 = 2;
/// Bytes before the manifest.
pub const HEADER_BYTES: usize = 136;

fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Program {
    /// The instruction stream's bytes.
    pub fn instr_bytes(&self) -> Result<Vec<u8>, ProgramError> {
        let mut out = Vec::with_capacity(self.instrs.len() * INSTR_BYTES);
        for (index, i) in self.instrs.iter().enumerate() {
            let w = i.encode().map_err(|source| ProgramError::Instr {
                path: "<in memory>".into(),
                index,
                source,
            })?;
            out.extend(w.to_le_bytes());
        }
        Ok(out)
    }

    /// The whole file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ProgramError> {
        let manifest =
            serde_json::to_vec_pretty(&self.manifest).map_err(|e| ProgramError::Manifest {
                path: "<in memory>".into(),
                message: e.to_string(),
            })?;
        let instrs = self.instr_bytes()?;
        let mut out =
            Vec::with_capacity(HEADER_BYTES + manifest.len() + instrs.len() + self.image.len());
        out.extend(MAGIC);
        out.extend(FORMAT_VERSION.to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend((manifest.len() as u64).to_le_bytes());
        out.extend((self.instrs.len() as u64).to_le_bytes());
        out.extend((self.image.len() as u64).to_le_bytes());
        out.extend(sha(&manifest));
        out.extend(sha(&instrs));
        out.extend(sha(&self.image));
        debug_assert_eq!(out.len(), HEADER_BYTES);
        out.extend(manifest);
        out.extend(instrs);
        out.extend(&self.image);
        Ok(out)
    }

    /// Write the program to `path` (checked first, so a broken program is never written).
    pub fn write(&self, path: &Path) -> Result<(), ProgramError> {
        let name = path.display().to_string();
        self.check(&name)?;
        let bytes = self.to_bytes()?;
        let io = |error| ProgramError::Write {
            path: name.clone(),
            error,
        };
        let mut f = std::fs::File::create(path).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)
    }

    /// Read and validate a program file.
    pub fn read(path: &Path) -> Result<Program, ProgramError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|error| ProgramError::Io {
            path: name.clone(),
            error,
        })?;
        Program::from_bytes(&bytes, &name)
    }

    /// Parse and validate a program's bytes (`path` names it in errors).
    pub fn from_bytes(bytes: &[u8], path: &str) -> Result<Program, ProgramError> {
        let len = bytes.len() as u64;
        let p = || path.to_owned();
        let need = |what: &'static str, offset: u64, needed: u64| {
            if offset.checked_add(needed).is_none_or(|end| end > len) {
                Err(ProgramError::Truncated {
                    path: p(),
                    what,
                    needed,
                    offset,
                    len,
                })
            } else {
                Ok(())
            }
        };
        need("the magic bytes", 0, 8)?;
        if &bytes[..8] != MAGIC {
            return Err(ProgramError::Magic { path: p() });
        }
        need("the header", 0, HEADER_BYTES as u64)?;
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if version != FORMAT_VERSION {
            return Err(ProgramError::Version {
                path: p(),
                found: version,
                expected: FORMAT_VERSION,
            });
        }
        if u32_at(12) != 0 {
            return Err(ProgramError::Inconsistent {
                path: p(),
                message: "reserved header word is not 0".into(),
            });
        }
        let (m_len, count, img_len) = (u64_at(16), u64_at(24), u64_at(32));
        let m_at = HEADER_BYTES as u64;
        need("the manifest", m_at, m_len)?;
        let i_at = m_at + m_len;
        let i_len = count.saturating_mul(INSTR_BYTES as u64);
        need("the instructions", i_at, i_len)?;
        let b_at = i_at + i_len;
        need("the image", b_at, img_len)?;
        if b_at + img_len != len {
            return Err(ProgramError::Trailing {
                path: p(),
                extra: len - (b_at + img_len),
            });
        }
        let section = |at: u64, n: u64| &bytes[at as usize..(at + n) as usize];
        let (manifest, instrs, image) = (
            section(m_at, m_len),
            section(i_at, i_len),
            section(b_at, img_len),
        );
        for (what, data, at) in [
            ("manifest", manifest, 40),
            ("instruction", instrs, 72),
            ("image", image, 104),
        ] {
            if sha(data) != bytes[at..at + 32] {
                return Err(ProgramError::Checksum { path: p(), what });
            }
        }
        let manifest: Manifest =
            serde_json::from_slice(manifest).map_err(|e| ProgramError::Manifest {
                path: p(),
                message: e.to_string(),
            })?;
        let instrs = instrs
            .chunks_exact(INSTR_BYTES)
            .enumerate()
            .map(|(index, w)| {
                Instr::decode(u128::from_le_bytes(w.try_into().expect("16 bytes"))).map_err(
                    |source| ProgramError::Instr {
                        path: p(),
                        index,
                        source,
                    },
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let program = Program {
            manifest,
            instrs,
            image: image.to_vec(),
        };
        program.check(path)?;
        Ok(program)
    }
}
