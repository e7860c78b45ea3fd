//! The byte stream to a board, and the host protocol's client over it.
//!
//! [`Link`] is the transport: a real serial port ([`super::serial::SerialLink`]) or the board
//! top under Verilator ([`SimLink`]: the shell and the core with the C++ model of the SDRAM
//! chip, its UART pins bridged to these bytes). [`HostClient`] speaks `docs/host-protocol.md`
//! over any of them: one request, then exactly one reply, read as its sync and status bytes
//! first so that a 3-byte error reply is never mistaken for a short data reply.

use std::time::Duration;

use thiserror::Error;
use tokenfab_hw::eda::Eda;
use tokenfab_hw::fpga::protocol::{self as p, parse_reply, ReplyError, MAX_BEATS};
use tokenfab_hw::fpga::shell::Design;
use tokenfab_hw::fpga::sim::{ShellSim, SimError};

/// A failure of the link or of the protocol.
#[derive(Debug, Error)]
pub enum LinkError {
    #[error("{link}: {source}")]
    Io {
        link: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{link}: no reply: {got} of {want} bytes within {waited}")]
    Timeout {
        link: String,
        got: usize,
        want: usize,
        waited: String,
    },
    #[error("{link}: {source}")]
    Sim {
        link: String,
        #[source]
        source: SimError,
    },
    #[error("{link}: {request}: {source}")]
    Reply {
        link: String,
        request: String,
        #[source]
        source: ReplyError,
    },
    #[error("{link}: memory block at {addr:#x} is not 8-byte aligned")]
    Unaligned { link: String, addr: u64 },
}

/// A byte stream to a board's UART.
pub trait Link {
    /// What it is, for messages (`/dev/ttyUSB0 at 115200 baud`).
    fn describe(&self) -> String;
    /// Send `bytes`.
    fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError>;
    /// Receive exactly `n` bytes, or fail after the link's timeout.
    fn recv(&mut self, n: usize) -> Result<Vec<u8>, LinkError>;
    /// Let the board run about `clocks` clocks of its system clock before the next request (a
    /// simulated board only advances while it is asked to; a real one sleeps that long).
    fn idle(&mut self, clocks: u64) -> Result<(), LinkError>;
}

/// The board top under Verilator (`tokenfab_hw::fpga::sim::ShellSim`).
pub struct SimLink {
    sim: ShellSim,
    what: String,
    /// Bytes sent since the last receive: their UART time is part of the next wait.
    pending: usize,
    /// Clocks allowed for a reply beyond the UART time of the bytes.
    pub slack_clocks: u64,
}

/// Clocks a bit of the simulated UART (the UART's minimum): loading a program's image over the
/// simulated link costs 44 clocks a byte instead of the 2,170 of 115200 baud at 25 MHz.
pub const SIM_UART_DIVISOR: u64 = 4;

impl SimLink {
    /// Build (or reuse) and start the board top of `design` under Verilator, its UART at
    /// [`SIM_UART_DIVISOR`] clocks a bit, and run it through the SDRAM's power-up sequence.
    pub fn start(design: &Design) -> Result<SimLink, LinkError> {
        let what = format!(
            "simulated board ({}, {})",
            design.board.name,
            design.preset()
        );
        let fail = |source| LinkError::Sim {
            link: what.clone(),
            source,
        };
        let eda = Eda::get().map_err(|e| fail(SimError::Eda(e)))?;
        let baud = (design.clock_hz() / SIM_UART_DIVISOR as f64).round() as u32;
        let mut sim = ShellSim::start(eda, design, baud).map_err(fail)?;
        // The power-on reset (256 clocks) and the SDRAM's tINIT and initialisation.
        let init = u64::from(design.sdram_cycles().n_init) + 2_000;
        sim.run(init).map_err(fail)?;
        Ok(SimLink {
            sim,
            what,
            pending: 0,
            slack_clocks: 200_000,
        })
    }

    /// Time spent building the Verilated board (zero when cached).
    pub fn build_time(&self) -> Duration {
        self.sim.build_time
    }

    /// The chip model's counters (`ShellSim::stats`).
    pub fn stats(&mut self) -> Result<Vec<(String, u64)>, LinkError> {
        let what = self.what.clone();
        self.sim
            .stats()
            .map_err(|source| LinkError::Sim { link: what, source })
    }
}

impl Link for SimLink {
    fn describe(&self) -> String {
        self.what.clone()
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.pending += bytes.len();
        let what = self.what.clone();
        self.sim
            .send(bytes)
            .map_err(|source| LinkError::Sim { link: what, source })
    }

    fn recv(&mut self, n: usize) -> Result<Vec<u8>, LinkError> {
        // 10 bits a byte plus the bridge's idle bit, both ways.
        let clocks = (self.pending + n) as u64 * 11 * self.sim.divisor + self.slack_clocks;
        self.pending = 0;
        match self.sim.recv(n, clocks) {
            Ok(b) => Ok(b),
            Err(SimError::Timeout { got, want, .. }) => Err(LinkError::Timeout {
                link: self.what.clone(),
                got,
                want,
                waited: format!("{clocks} clocks"),
            }),
            Err(source) => Err(LinkError::Sim {
                link: self.what.clone(),
                source,
            }),
        }
    }

    fn idle(&mut self, clocks: u64) -> Result<(), LinkError> {
        let what = self.what.clone();
        self.sim
            .run(clocks)
            .map_err(|source| LinkError::Sim { link: what, source })
    }
}

/// The host protocol over a [`Link`].
pub struct HostClient {
    pub link: Box<dyn Link>,
    /// Bytes sent and received so far (for the load's throughput).
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

impl HostClient {
    pub fn new(link: Box<dyn Link>) -> Self {
        HostClient {
            link,
            bytes_sent: 0,
            bytes_received: 0,
        }
    }

    /// Send `request` (named `what` in errors) and return the reply's `data_len` data bytes.
    fn transact(
        &mut self,
        what: &str,
        request: &[u8],
        data_len: usize,
    ) -> Result<Vec<u8>, LinkError> {
        self.link.send(request)?;
        let mut reply = self.link.recv(2)?;
        let rest = if reply[1] == p::STATUS_OK {
            data_len + 1
        } else {
            1
        };
        reply.extend(self.link.recv(rest)?);
        self.bytes_sent += request.len() as u64;
        self.bytes_received += reply.len() as u64;
        parse_reply(&reply, data_len).map_err(|source| LinkError::Reply {
            link: self.link.describe(),
            request: what.to_string(),
            source,
        })
    }

    /// PING: the protocol version word.
    pub fn ping(&mut self) -> Result<u32, LinkError> {
        let d = self.transact("PING", &p::ping(), 4)?;
        Ok(u32::from_le_bytes([d[0], d[1], d[2], d[3]]))
    }

    pub fn read_reg(&mut self, addr: u64) -> Result<u32, LinkError> {
        let d = self.transact(&format!("READ_REG {addr}"), &p::read_reg(addr as u8), 4)?;
        Ok(u32::from_le_bytes([d[0], d[1], d[2], d[3]]))
    }

    pub fn write_reg(&mut self, addr: u64, value: u32) -> Result<(), LinkError> {
        self.transact(
            &format!("WRITE_REG {addr}"),
            &p::write_reg(addr as u8, value),
            0,
        )
        .map(|_| ())
    }

    /// Write `data` at `addr` (8-byte aligned) in blocks of up to 128 beats; a tail that is not
    /// a whole beat is padded with zeros.
    pub fn write_mem(&mut self, addr: u64, data: &[u8]) -> Result<(), LinkError> {
        self.aligned(addr)?;
        let block = MAX_BEATS * 8;
        for (i, chunk) in data.chunks(block).enumerate() {
            let mut c = chunk.to_vec();
            c.resize(c.len().next_multiple_of(8), 0);
            let at = addr + (i * block) as u64;
            self.transact(
                &format!("WRITE_MEM {at:#x}"),
                &p::write_mem(at as u32, &c),
                0,
            )?;
        }
        Ok(())
    }

    /// Read `len` bytes at `addr` (8-byte aligned).
    pub fn read_mem(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, LinkError> {
        self.aligned(addr)?;
        let block = MAX_BEATS * 8;
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let at = addr + out.len() as u64;
            let beats = (len - out.len()).min(block).div_ceil(8);
            let d = self.transact(
                &format!("READ_MEM {at:#x}"),
                &p::read_mem(at as u32, beats as u8),
                beats * 8,
            )?;
            out.extend(d);
        }
        out.truncate(len);
        Ok(out)
    }

    fn aligned(&self, addr: u64) -> Result<(), LinkError> {
        if addr % 8 != 0 || addr >= 1 << 32 {
            return Err(LinkError::Unaligned {
                link: self.link.describe(),
                addr,
            });
        }
        Ok(())
    }
}
