//! The SwiGLU feed-forward block (Shazeer 2020, "GLU Variants Improve Transformer"), as Hugging
//! Face's `LlamaMLP` / `MistralMLP` / `Qwen2MLP` compute it: `down(silu(gate(x)) * up(x))`.

use tokenfab_checkpoint::{names, Checkpoint};

use super::matvec::matvec;
use super::weights::Matrix;
use crate::error::GoldenError;

/// The MLP of one decoder layer.
#[derive(Clone)]
pub struct Mlp {
    /// `gate_proj` then `up_proj`, stacked along the output rows so that one parallel pass
    /// over the weights computes both (they share the input).
    pub gate_up_proj: Matrix,
    pub down_proj: Matrix,
    pub intermediate_size: usize,
}

impl Mlp {
    /// Loads layer `i`'s MLP weights.
    pub fn load(ckpt: &Checkpoint, i: usize) -> Result<Self, GoldenError> {
        let c = &ckpt.config;
        let (gate, up) = (names::gate_proj(i), names::up_proj(i));
        let gate_up_proj = Matrix::load_stacked(
            ckpt,
            &[(&gate, c.intermediate_size), (&up, c.intermediate_size)],
            c.hidden_size,
        )?;
        let down_proj = Matrix::load(
            ckpt,
            &names::down_proj(i),
            c.hidden_size,
            c.intermediate_size,
        )?;
        Ok(Mlp {
            gate_up_proj,
            down_proj,
            intermediate_size: c.intermediate_size,
        })
    }

    /// `down(silu(gate(x)) * up(x))` for one token.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        let n = self.intermediate_size;
        let mut gate_up = vec![0.0; 2 * n];
        matvec(&self.gate_up_proj, x, &mut gate_up);
        let (gate, up) = gate_up.split_at_mut(n);
        for (g, &u) in gate.iter_mut().zip(up.iter()) {
            *g = silu(*g) * u;
        }
        let mut y = vec![0.0; self.down_proj.rows()];
        matvec(&self.down_proj, gate, &mut y);
        y
    }
}

/// SiLU (a.k.a. swish), `x * sigmoid(x)`, written as PyTorch's CPU kernel writes it:
/// `x / (1 + exp(-x))`. For very negative x, `exp(-x)` overflows to infinity and the result is
/// `-0.0`, the correct limit, rather than NaN.
pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silu_matches_its_definition_and_limits() {
        for x in [-20.0f32, -3.0, -0.5, 0.0, 0.5, 3.0, 20.0] {
            let expected = x as f64 / (1.0 + (-(x as f64)).exp());
            assert!((silu(x) as f64 - expected).abs() <= 1e-6 * expected.abs().max(1.0));
        }
        assert_eq!(silu(-200.0), 0.0);
        assert_eq!(silu(200.0), 200.0);
    }

    #[test]
    fn forward_is_swiglu() {
        // hidden 2, intermediate 2: gate = [x0, x1], up = [2*x0, x1 + x0], down = identity.
        let gate_up = [1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 1.0, 1.0];
        let mlp = Mlp {
            gate_up_proj: Matrix::from_f32(4, 2, &gate_up),
            down_proj: Matrix::from_f32(2, 2, &[1.0, 0.0, 0.0, 1.0]),
            intermediate_size: 2,
        };
        let y = mlp.forward(&[1.5, -0.5]);
        assert_eq!(y, vec![silu(1.5) * 3.0, silu(-0.5) * 1.0]);
    }
}
