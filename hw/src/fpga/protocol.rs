//! The host protocol's constants and the host side of its framing (`docs/host-protocol.md`):
//! building request frames and parsing reply frames. The RTL engine
//! ([`crate::fpga::host::HostEngine`]) takes its constants from here, so both sides share one
//! definition.

use thiserror::Error;

/// First byte of every request frame.
pub const SYNC_REQUEST: u8 = 0xA5;
/// First byte of every reply frame.
pub const SYNC_REPLY: u8 = 0x5A;
pub const CMD_PING: u8 = 0x01;
pub const CMD_WRITE_REG: u8 = 0x02;
pub const CMD_READ_REG: u8 = 0x03;
pub const CMD_WRITE_MEM: u8 = 0x04;
pub const CMD_READ_MEM: u8 = 0x05;
pub const STATUS_OK: u8 = 0x00;
pub const STATUS_BAD_CHECKSUM: u8 = 0x01;
pub const STATUS_UNKNOWN_COMMAND: u8 = 0x02;
pub const STATUS_BAD_ARGUMENT: u8 = 0x03;
/// PING's reply value: "TF" and protocol version 1, little-endian (bytes 0x54 0x46 0x01 0x00).
pub const PING_VALUE: u32 = 0x0001_4654;
/// Most beats (8 bytes each) in one memory block.
pub const MAX_BEATS: usize = 128;

/// The checksum byte that makes the bytes it covers sum to zero modulo 256.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |a, &b| a.wrapping_add(b))
        .wrapping_neg()
}

fn frame(cmd: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![cmd];
    body.extend_from_slice(payload);
    let mut f = vec![SYNC_REQUEST];
    f.extend_from_slice(&body);
    f.push(checksum(&body));
    f
}

/// PING.
pub fn ping() -> Vec<u8> {
    frame(CMD_PING, &[])
}

/// WRITE_REG `addr` = `value`.
pub fn write_reg(addr: u8, value: u32) -> Vec<u8> {
    let mut p = vec![addr];
    p.extend_from_slice(&value.to_le_bytes());
    frame(CMD_WRITE_REG, &p)
}

/// READ_REG `addr`.
pub fn read_reg(addr: u8) -> Vec<u8> {
    frame(CMD_READ_REG, &[addr])
}

/// WRITE_MEM of `data` (a whole number of 8-byte beats) at byte address `addr`.
pub fn write_mem(addr: u32, data: &[u8]) -> Vec<u8> {
    let mut p = addr.to_le_bytes().to_vec();
    p.push((data.len() / 8) as u8);
    p.extend_from_slice(data);
    frame(CMD_WRITE_MEM, &p)
}

/// READ_MEM of `beats` beats at byte address `addr`.
pub fn read_mem(addr: u32, beats: u8) -> Vec<u8> {
    let mut p = addr.to_le_bytes().to_vec();
    p.push(beats);
    frame(CMD_READ_MEM, &p)
}

/// A reply that is not what the protocol says.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReplyError {
    #[error("reply of {got} bytes, expected {want}")]
    Length { got: usize, want: usize },
    #[error("reply starts with {0:#04x}, expected 0x5a")]
    Sync(u8),
    #[error("reply checksum does not sum to zero")]
    Checksum,
    #[error("the board answered status {0:#04x} ({1})")]
    Status(u8, &'static str),
}

/// The name of a status byte.
pub fn status_name(s: u8) -> &'static str {
    match s {
        STATUS_OK => "ok",
        STATUS_BAD_CHECKSUM => "bad checksum",
        STATUS_UNKNOWN_COMMAND => "unknown command",
        STATUS_BAD_ARGUMENT => "bad argument",
        _ => "unknown status",
    }
}

/// The length of a successful reply carrying `data_len` bytes of data.
pub fn reply_len(data_len: usize) -> usize {
    3 + data_len
}

/// Parse a reply: its data on status OK, the status as an error otherwise.
pub fn parse_reply(reply: &[u8], data_len: usize) -> Result<Vec<u8>, ReplyError> {
    if reply.len() < 3 {
        return Err(ReplyError::Length {
            got: reply.len(),
            want: reply_len(data_len),
        });
    }
    if reply[0] != SYNC_REPLY {
        return Err(ReplyError::Sync(reply[0]));
    }
    let status = reply[1];
    if status != STATUS_OK {
        if reply.len() != 3 {
            return Err(ReplyError::Length {
                got: reply.len(),
                want: 3,
            });
        }
        if checksum(&reply[1..2]) != reply[2] {
            return Err(ReplyError::Checksum);
        }
        return Err(ReplyError::Status(status, status_name(status)));
    }
    if reply.len() != reply_len(data_len) {
        return Err(ReplyError::Length {
            got: reply.len(),
            want: reply_len(data_len),
        });
    }
    let body = &reply[1..reply.len() - 1];
    if checksum(body) != reply[reply.len() - 1] {
        return Err(ReplyError::Checksum);
    }
    Ok(body[1..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_sum_to_zero_and_replies_parse() {
        for f in [ping(), write_reg(3, 0xdead_beef), read_mem(64, 2)] {
            assert_eq!(f[0], SYNC_REQUEST);
            assert_eq!(f[1..].iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
        }
        assert_eq!(write_reg(3, 0x0102_0304)[2..7], [3, 4, 3, 2, 1]);
        let ok = [SYNC_REPLY, 0, 7, 8, checksum(&[0, 7, 8])];
        assert_eq!(parse_reply(&ok, 2), Ok(vec![7, 8]));
        let bad = [SYNC_REPLY, 1, checksum(&[1])];
        assert_eq!(
            parse_reply(&bad, 2),
            Err(ReplyError::Status(1, "bad checksum"))
        );
        assert_eq!(
            parse_reply(&[0x5A, 0, 7, 8, 0], 2),
            Err(ReplyError::Checksum)
        );
    }
}
