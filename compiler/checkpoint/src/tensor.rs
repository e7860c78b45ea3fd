//! Element types and borrowed tensor views over the memory-mapped checkpoint.
//!
//! A `TensorView` is the raw little-endian bytes of one tensor, straight from the mapping; it
//! never copies. `to_f32` is the one place that widens F16/BF16 to f32 (exactly: both widen
//! without rounding), so every consumer sees the same numbers.

use half::{bf16, f16};

/// The element types the importer reads; the generator writes F32 or BF16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    F32,
    F16,
    BF16,
}

impl DType {
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
        }
    }

    /// The dtype string of the safetensors header ("F32", "F16", "BF16").
    pub fn safetensors_name(self) -> &'static str {
        match self {
            DType::F32 => "F32",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
        }
    }

    /// The `torch_dtype` string HF writes in `config.json` for weights of this type.
    pub fn torch_name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
        }
    }

    /// Parses a safetensors dtype string; `None` for types the importer does not read.
    pub fn from_safetensors_name(name: &str) -> Option<Self> {
        match name {
            "F32" => Some(DType::F32),
            "F16" => Some(DType::F16),
            "BF16" => Some(DType::BF16),
            _ => None,
        }
    }

    /// Parses the CLI spelling (`f32`, `f16`, `bf16`, case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" => Some(DType::F32),
            "f16" | "float16" => Some(DType::F16),
            "bf16" | "bfloat16" => Some(DType::BF16),
            _ => None,
        }
    }

    /// Encodes one f32 as this type's little-endian bytes, rounding to nearest even.
    #[cfg(test)]
    pub(crate) fn encode(self, x: f32, out: &mut Vec<u8>) {
        self.encode_slice(&[x], out);
    }

    /// Encodes f32 values as this type's little-endian bytes, rounding to nearest even. The
    /// dtype is matched once per slice, not per element: this loop is the generator's hot path.
    pub(crate) fn encode_slice(self, xs: &[f32], out: &mut Vec<u8>) {
        out.reserve(xs.len() * self.size_in_bytes());
        match self {
            DType::F32 => xs
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            DType::F16 => xs
                .iter()
                .for_each(|&x| out.extend_from_slice(&f16::from_f32(x).to_le_bytes())),
            DType::BF16 => xs
                .iter()
                .for_each(|&x| out.extend_from_slice(&bf16::from_f32(x).to_le_bytes())),
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.safetensors_name())
    }
}

/// One tensor of an open checkpoint, borrowed from its memory mapping.
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    pub name: &'a str,
    pub dtype: DType,
    pub shape: &'a [usize],
    /// Raw little-endian bytes, `numel() * dtype.size_in_bytes()` long (checked on open).
    pub data: &'a [u8],
}

impl TensorView<'_> {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The elements widened to f32 (exact for all three dtypes), in row-major order.
    pub fn to_f32(&self) -> Vec<f32> {
        match self.dtype {
            DType::F32 => self
                .data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            DType::F16 => self
                .data
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            DType::BF16 => self
                .data
                .chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        }
    }

    /// One row of a 2-D tensor (e.g. an embedding lookup) widened to f32, or `None` when the
    /// tensor is not 2-D or the row is out of range. Reads only that row's bytes.
    pub fn row_f32(&self, row: usize) -> Option<Vec<f32>> {
        let [rows, cols] = *self.shape else {
            return None;
        };
        if row >= rows {
            return None;
        }
        let width = cols * self.dtype.size_in_bytes();
        let data = self.data.get(row * width..(row + 1) * width)?;
        Some(
            TensorView {
                name: self.name,
                dtype: self.dtype,
                shape: &self.shape[1..],
                data,
            }
            .to_f32(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_is_exact() {
        let mut bytes = Vec::new();
        for x in [1.0f32, -2.5, 0.15625] {
            DType::BF16.encode(x, &mut bytes);
        }
        let shape = [3];
        let view = TensorView {
            name: "t",
            dtype: DType::BF16,
            shape: &shape,
            data: &bytes,
        };
        assert_eq!(view.to_f32(), vec![1.0, -2.5, 0.15625]);
        assert_eq!(view.numel(), 3);
    }

    #[test]
    fn row_reads_one_row() {
        let mut bytes = Vec::new();
        for x in 0..6 {
            DType::F16.encode(x as f32, &mut bytes);
        }
        let shape = [2, 3];
        let view = TensorView {
            name: "t",
            dtype: DType::F16,
            shape: &shape,
            data: &bytes,
        };
        assert_eq!(view.row_f32(1), Some(vec![3.0, 4.0, 5.0]));
        assert_eq!(view.row_f32(2), None);
    }
}
