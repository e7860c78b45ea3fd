//! A real board's USB serial port (ULX3S: the FT231X, `/dev/ttyUSB0` on Linux), 8N1 at the
//! board's baud, through the `serialport` crate (its default `libudev` feature is off: the port
//! is named by path, nothing is enumerated, so no system library is needed).

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use super::link::{Link, LinkError};

/// A serial port.
pub struct SerialLink {
    port: Box<dyn serialport::SerialPort>,
    what: String,
    /// How long a reply may take to start and to finish.
    pub timeout: Duration,
    /// The board's system clock, Hz (to turn [`Link::idle`] clocks into a sleep).
    pub clock_hz: f64,
}

/// Why a serial port could not be opened: one line naming the port.
#[derive(Debug, thiserror::Error)]
#[error("cannot open serial port {path} at {baud} baud: {message}")]
pub struct OpenError {
    pub path: String,
    pub baud: u32,
    pub message: String,
}

impl SerialLink {
    /// Open `path` at `baud`, 8N1, no flow control; replies may take up to `timeout`.
    pub fn open(
        path: &str,
        baud: u32,
        timeout: Duration,
        clock_hz: f64,
    ) -> Result<SerialLink, OpenError> {
        let port = serialport::new(path, baud)
            .data_bits(serialport::DataBits::Eight)
            .parity(serialport::Parity::None)
            .stop_bits(serialport::StopBits::One)
            .flow_control(serialport::FlowControl::None)
            .timeout(Duration::from_millis(50))
            .open()
            .map_err(|e| OpenError {
                path: path.into(),
                baud,
                message: e.to_string(),
            })?;
        // Bytes a board sent before this host listened are not replies to it.
        let _ = port.clear(serialport::ClearBuffer::All);
        Ok(SerialLink {
            port,
            what: format!("{path} at {baud} baud"),
            timeout,
            clock_hz,
        })
    }

    fn io(&self, source: std::io::Error) -> LinkError {
        LinkError::Io {
            link: self.what.clone(),
            source,
        }
    }
}

impl Link for SerialLink {
    fn describe(&self) -> String {
        self.what.clone()
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.port.write_all(bytes).map_err(|e| self.io(e))?;
        self.port.flush().map_err(|e| self.io(e))
    }

    fn recv(&mut self, n: usize) -> Result<Vec<u8>, LinkError> {
        let start = Instant::now();
        let mut out = vec![0u8; n];
        let mut got = 0;
        while got < n {
            match self.port.read(&mut out[got..]) {
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io(e)),
            }
            if got < n && start.elapsed() > self.timeout {
                return Err(LinkError::Timeout {
                    link: self.what.clone(),
                    got,
                    want: n,
                    waited: format!("{:.1} s", self.timeout.as_secs_f64()),
                });
            }
        }
        Ok(out)
    }

    fn idle(&mut self, clocks: u64) -> Result<(), LinkError> {
        std::thread::sleep(Duration::from_secs_f64(clocks as f64 / self.clock_hz));
        Ok(())
    }
}
