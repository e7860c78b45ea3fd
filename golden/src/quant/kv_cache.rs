//! The quantised KV cache: for every layer and every kv head, one [`ActVec`] per position for
//! the rotated key and one for the value, in the accelerator's cache format (`head_dim` 16-bit
//! mantissas and one shared exponent; `numerics::attention` defines it).
//!
//! Layout `[layer][kv_head][position]`: attention for one kv head reads that head's keys and
//! values for positions `0..=pos` as one slice, which is what
//! [`weighted_sum`](tokenfab_isa::numerics::attention::weighted_sum) takes. As in the float
//! cache, the capacity is fixed at creation and positions must come in order.

use tokenfab_isa::numerics::activation::ActVec;

use crate::error::GoldenError;

/// One layer's cached keys (after RoPE) and values, per kv head.
#[derive(Clone, Debug, Default)]
pub struct QuantLayerCache {
    /// `keys[j][t]`: kv head `j`, position `t`.
    pub keys: Vec<Vec<ActVec>>,
    /// `values[j][t]`: kv head `j`, position `t`.
    pub values: Vec<Vec<ActVec>>,
}

/// The quantised KV cache of one sequence.
#[derive(Clone, Debug)]
pub struct QuantKvCache {
    pub(crate) layers: Vec<QuantLayerCache>,
    num_kv_heads: usize,
    head_dim: usize,
    capacity: usize,
    len: usize,
}

impl QuantKvCache {
    /// An empty cache for `layers` layers of `num_kv_heads` heads of `head_dim`, holding at
    /// most `capacity` positions.
    pub fn new(layers: usize, num_kv_heads: usize, head_dim: usize, capacity: usize) -> Self {
        let layer = QuantLayerCache {
            keys: vec![Vec::new(); num_kv_heads],
            values: vec![Vec::new(); num_kv_heads],
        };
        QuantKvCache {
            layers: vec![layer; layers],
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

    /// `(layers, kv heads, head dim)`, checked against the model before every step.
    pub fn shape(&self) -> (usize, usize, usize) {
        (self.layers.len(), self.num_kv_heads, self.head_dim)
    }

    /// The cached layers (read-only: a backend comparing its own cache against golden's).
    pub fn layers(&self) -> &[QuantLayerCache] {
        &self.layers
    }

    /// Forgets every position from `len` on. A `len` beyond the current length changes nothing.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        for layer in &mut self.layers {
            for head in layer.keys.iter_mut().chain(layer.values.iter_mut()) {
                head.truncate(len);
            }
        }
        self.len = len;
    }

    /// Bytes of keys and values one more decode step reads: every cached vector's 16-bit
    /// mantissas plus its 32-bit exponent, every layer.
    pub fn bytes(&self) -> usize {
        self.layers.len() * 2 * self.len * self.num_kv_heads * (2 * self.head_dim + 4)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(v: i16) -> ActVec {
        ActVec {
            mant: vec![v; 2],
            exp: -16,
        }
    }

    #[test]
    fn positions_are_sequential_within_capacity_and_truncate_forgets() {
        let mut cache = QuantKvCache::new(2, 1, 2, 2);
        assert!(matches!(
            cache.check_next(1),
            Err(GoldenError::PositionMismatch { pos: 1, cached: 0 })
        ));
        for pos in 0..2 {
            cache.check_next(pos).unwrap();
            for layer in &mut cache.layers {
                layer.keys[0].push(vector(pos as i16));
                layer.values[0].push(vector(0));
            }
            cache.advance();
        }
        assert_eq!(
            cache.check_next(2).unwrap_err().to_string(),
            "KV cache is full: position 2 does not fit its capacity of 2 positions"
        );
        // 2 layers x (keys, values) x 2 positions x (2 mantissas x 2 bytes + 4 exponent bytes).
        assert_eq!(cache.bytes(), 2 * 2 * 2 * 8);
        cache.truncate(1);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.layers()[1].keys[0], vec![vector(0)]);
        cache.truncate(5);
        assert_eq!(cache.len(), 1);
        cache.check_next(1).unwrap();
    }
}
