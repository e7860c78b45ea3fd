//! NumPy `.npy` files for 2-D f32 arrays: logits written by the `reference` CLI, and fixtures
//! read back in tests.
//!
//! Format (NumPy's `format.py`, version 1.0): the magic `\x93NUMPY`, the version bytes `1 0`,
//! a little-endian u16 header length, then an ASCII Python dict literal
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (rows, cols), }` padded with spaces and
//! ended by `\n` so that the data starts on a 64-byte boundary, then the data in C order.
//! The reader accepts what NumPy itself writes for such an array (versions 1.0 to 3.0, any key
//! order, 1-D or 2-D shapes) and nothing else, with a one-line error saying why.

use std::path::Path;

use crate::error::GoldenError;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Writes `data` (row-major, `rows * cols` values) as a `<f4` C-order `.npy` file.
pub fn write_f32_2d(
    path: &Path,
    rows: usize,
    cols: usize,
    data: &[f32],
) -> Result<(), GoldenError> {
    let bytes = encode_f32_2d(rows, cols, data)?;
    std::fs::write(path, bytes).map_err(|e| GoldenError::io(path, "writing npy", e))
}

/// The bytes of a `.npy` file holding `data` as a `[rows, cols]` f32 array.
pub fn encode_f32_2d(rows: usize, cols: usize, data: &[f32]) -> Result<Vec<u8>, GoldenError> {
    if rows.checked_mul(cols) != Some(data.len()) {
        return Err(GoldenError::NpyShape {
            rows,
            cols,
            len: data.len(),
        });
    }
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // magic (6) + version (2) + header length (2) + dict + padding + '\n' = multiple of 64.
    let unpadded = MAGIC.len() + 2 + 2 + dict.len() + 1;
    let padding = unpadded.next_multiple_of(64) - unpadded;
    let header_len = dict.len() + padding + 1;
    let mut out = Vec::with_capacity(unpadded + padding + data.len() * 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    // The dict of a 2-D shape is under 100 bytes, far below the u16 limit of version 1.0.
    out.extend_from_slice(&(header_len as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend(std::iter::repeat_n(b' ', padding));
    out.push(b'\n');
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

/// A 2-D f32 array read from a `.npy` file (a 1-D file reads as one row).
#[derive(Clone, Debug, PartialEq)]
pub struct NpyF32 {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

/// Reads a `<f4`, C-order, 1-D or 2-D `.npy` file.
pub fn read_f32_2d(path: &Path) -> Result<NpyF32, GoldenError> {
    let bytes = std::fs::read(path).map_err(|e| GoldenError::io(path, "reading npy", e))?;
    decode_f32_2d(&bytes).map_err(|why| {
        GoldenError::io(
            path,
            "reading npy",
            std::io::Error::new(std::io::ErrorKind::InvalidData, why),
        )
    })
}

/// Parses the bytes of a `.npy` file; the error says what was unexpected.
pub fn decode_f32_2d(bytes: &[u8]) -> Result<NpyF32, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not an npy file (bad magic)".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported npy version {v}")),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or("header runs past the end of the file")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let descr = dict_value(header, "descr").ok_or("header has no 'descr'")?;
    if descr != "'<f4'" {
        return Err(format!("dtype {descr}, expected '<f4' (little-endian f32)"));
    }
    let fortran = dict_value(header, "fortran_order").ok_or("header has no 'fortran_order'")?;
    if fortran != "False" {
        return Err(format!("fortran_order {fortran}, expected False"));
    }
    let shape = dict_value(header, "shape").ok_or("header has no 'shape'")?;
    let dims: Vec<usize> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| format!("bad shape {shape}")))
        .collect::<Result<_, _>>()?;
    let (rows, cols) = match dims[..] {
        [n] => (1, n),
        [r, c] => (r, c),
        _ => return Err(format!("shape {shape} is not 1-D or 2-D")),
    };
    let body = &bytes[start + header_len..];
    let n = rows.checked_mul(cols).ok_or("shape overflows")?;
    if body.len() != n * 4 {
        return Err(format!(
            "shape {shape} needs {} data bytes, file has {}",
            n * 4,
            body.len()
        ));
    }
    let data = body
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(NpyF32 { rows, cols, data })
}

/// The literal text of `key`'s value in a Python dict literal: a quoted string, a bare word, or
/// a parenthesised tuple.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else if let Some(quoted) = rest.strip_prefix('\'') {
        quoted.find('\'')? + 2
    } else {
        rest.find([',', '}'])?
    };
    Some(rest[..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_file_reads_back_and_is_aligned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logits.npy");
        let data: Vec<f32> = (0..15).map(|i| i as f32 * -0.25 + 1e-7).collect();
        write_f32_2d(&path, 3, 5, &data).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        assert_eq!(bytes[10 + header_len - 1], b'\n');
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 5), }"));
        let back = read_f32_2d(&path).unwrap();
        assert_eq!(
            back,
            NpyF32 {
                rows: 3,
                cols: 5,
                data
            }
        );
    }

    #[test]
    fn reads_numpy_spellings_of_the_header() {
        // Key order and 1-D tuples as NumPy writes them, e.g. np.save of a 1-D array.
        let mut bytes = MAGIC.to_vec();
        let dict = "{'shape': (2,), 'fortran_order': False, 'descr': '<f4'}";
        let header = format!("{dict:<53}\n");
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&1.5f32.to_le_bytes());
        bytes.extend_from_slice(&(-2.0f32).to_le_bytes());
        let arr = decode_f32_2d(&bytes).unwrap();
        assert_eq!((arr.rows, arr.cols, arr.data), (1, 2, vec![1.5, -2.0]));
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        assert!(decode_f32_2d(b"PK\x03\x04 not npy")
            .unwrap_err()
            .contains("magic"));
        let mut f8 = encode_f32_2d(1, 1, &[0.0]).unwrap();
        let at = f8.windows(3).position(|w| w == b"<f4").unwrap();
        f8[at + 2] = b'8';
        let err = decode_f32_2d(&f8).unwrap_err();
        assert!(err.contains("'<f8'"), "{err}");
        let mut short = encode_f32_2d(2, 2, &[0.0; 4]).unwrap();
        short.truncate(short.len() - 4);
        assert!(decode_f32_2d(&short)
            .unwrap_err()
            .contains("needs 16 data bytes"));
        assert_eq!(
            encode_f32_2d(2, 3, &[0.0; 5]).unwrap_err().to_string(),
            "npy array of shape [2, 3] needs 6 values, got 5"
        );
    }
}
