//! The key/value cache of a decode: for every layer, the rotated keys and the values of every
//! position consumed so far, so that each step computes projections for one new token only.
//!
//! Layout per layer: `[position][kv_head][head_dim]`, appended one position at a time. A
//! position's keys for all heads are one contiguous write, and the cache grows with the
//! context instead of reserving `max_position_embeddings` up front (Llama 3.2 1B allows
//! 131072 positions: 8.6 GB of f32 cache nobody asked for). The capacity is still fixed at
//! creation, so a runaway generation stops with an error instead of exhausting memory.

use crate::error::GoldenError;

/// One layer's cached keys (already rotated by RoPE) and values.
#[derive(Clone, Debug, Default)]
pub struct LayerCache {
    pub(crate) keys: Vec<f32>,
    pub(crate) values: Vec<f32>,
}

/// The KV cache of one sequence.
#[derive(Clone, Debug)]
pub struct KvCache {
    pub(crate) layers: Vec<LayerCache>,
    num_kv_heads: usize,
    head_dim: usize,
    capacity: usize,
    len: usize,
}

impl KvCache {
    /// An empty cache for `layers` layers of `num_kv_heads` heads of `head_dim`, holding at
    /// most `capacity` positions.
    pub fn new(layers: usize, num_kv_heads: usize, head_dim: usize, capacity: usize) -> Self {
        KvCache {
            layers: vec![LayerCache::default(); layers],
            num_kv_heads,
            head_dim,
            capacity,
            len: 0,
        }
    }

    /// Positions consumed so far; the next decode step must be at this position.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most positions this cache accepts.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets every position from `len` on (e.g. to reuse a shared prompt, or to roll back
    /// rejected speculative tokens). A `len` beyond the current length changes nothing.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        let width = self.num_kv_heads * self.head_dim;
        for layer in &mut self.layers {
            layer.keys.truncate(len * width);
            layer.values.truncate(len * width);
        }
        self.len = len;
    }

    /// Bytes of keys and values one more decode step reads (the whole cache, every layer).
    pub fn bytes(&self) -> usize {
        self.layers.len() * 2 * self.len * self.num_kv_heads * self.head_dim * 4
    }

    /// `(layers, kv heads, head dim)`, checked against the model before every step.
    pub fn shape(&self) -> (usize, usize, usize) {
        (self.layers.len(), self.num_kv_heads, self.head_dim)
    }

    /// Checks that position `pos` may be written next.
    pub(crate) fn check_next(&self, pos: usize) -> Result<(), GoldenError> {
        if pos != self.len {
            return Err(GoldenError::PositionMismatch {
                pos,
                cached: self.len,
            });
        }
        if pos >= self.capacity {
            return Err(GoldenError::CacheFull {
                pos,
                capacity: self.capacity,
            });
        }
        Ok(())
    }

    /// Marks one more position as filled, after every layer has appended its keys/values.
    pub(crate) fn advance(&mut self) {
        self.len += 1;
    }
}

impl LayerCache {
    /// Appends one position's keys and values (`num_kv_heads * head_dim` each).
    pub(crate) fn push(&mut self, keys: &[f32], values: &[f32]) {
        self.keys.extend_from_slice(keys);
        self.values.extend_from_slice(values);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_must_be_sequential_and_within_capacity() {
        let mut cache = KvCache::new(2, 1, 2, 2);
        assert!(matches!(
            cache.check_next(1),
            Err(GoldenError::PositionMismatch { pos: 1, cached: 0 })
        ));
        for pos in 0..2 {
            cache.check_next(pos).unwrap();
            for layer in &mut cache.layers {
                layer.push(&[pos as f32; 2], &[0.0; 2]);
            }
            cache.advance();
        }
        let err = cache.check_next(2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "KV cache is full: position 2 does not fit its capacity of 2 positions"
        );
        assert_eq!(cache.bytes(), 2 * 2 * 2 * 2 * 4);
    }

    #[test]
    fn truncate_forgets_later_positions() {
        let mut cache = KvCache::new(1, 2, 2, 8);
        for pos in 0..3 {
            cache.layers[0].push(&[pos as f32; 4], &[pos as f32; 4]);
            cache.advance();
        }
        cache.truncate(1);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.layers[0].keys, vec![0.0; 4]);
        cache.truncate(5);
        assert_eq!(cache.len(), 1);
        cache.check_next(1).unwrap();
    }
}
