//! An independent, deliberately plain f64 recomputation of a whole sequence with the quantised
//! model's weights, for tests only.
//!
//! It shares with the quantised reference only the quantised matrices themselves (read through
//! `QuantMatrix::dequant`, exact in f64): norms and biases come straight from the checkpoint's
//! tensors, all arithmetic is f64 with plain loops, all positions are processed at once with an
//! explicit causal mask instead of a KV cache, RoPE frequencies (with Llama 3 scaling) come from
//! the published formulas in f64 and angles from `cos`/`sin`, and kv heads are expanded as HF's
//! `repeat_kv` does. Agreement with the integer decode therefore checks the recipe's order of
//! operations, the head mapping, RoPE's pairing and the numerics' accuracy all at once.

use tokenfab_checkpoint::{names, Checkpoint, RopeScaling};
use tokenfab_isa::numerics::weights::QuantMatrix;

use super::model::QuantModel;

fn vector(ckpt: &Checkpoint, name: &str) -> Vec<f64> {
    let view = ckpt.tensor(name).expect("naive reference: tensor");
    view.to_f32().into_iter().map(f64::from).collect()
}

fn linear(w: &QuantMatrix, x: &[f64], bias: Option<&[f64]>) -> Vec<f64> {
    (0..w.rows)
        .map(|r| {
            let s: f64 = (0..w.cols).map(|c| w.dequant(r, c) * x[c]).sum();
            s + bias.map_or(0.0, |b| b[r])
        })
        .collect()
}

fn rms_norm(x: &[f64], w: &[f64], eps: f64) -> Vec<f64> {
    let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
    let r = 1.0 / (ms + eps).sqrt();
    x.iter().zip(w).map(|(v, g)| g * v * r).collect()
}

fn inv_freq(theta: f64, d: usize, scaling: Option<RopeScaling>) -> Vec<f64> {
    (0..d / 2)
        .map(|i| {
            let f = theta.powf(-(2.0 * i as f64) / d as f64);
            let Some(RopeScaling::Llama3 {
                factor,
                low_freq_factor: low,
                high_freq_factor: high,
                original_max_position_embeddings,
            }) = scaling
            else {
                return f;
            };
            let old = original_max_position_embeddings as f64;
            let wavelen = 2.0 * std::f64::consts::PI / f;
            if wavelen < old / high {
                f
            } else if wavelen > old / low {
                f / factor
            } else {
                let s = (old / wavelen - low) / (high - low);
                (1.0 - s) * f / factor + s * f
            }
        })
        .collect()
}

fn rotate(head: &mut [f64], freqs: &[f64], pos: usize) {
    let half = head.len() / 2;
    for i in 0..half {
        let (c, s) = ((pos as f64 * freqs[i]).cos(), (pos as f64 * freqs[i]).sin());
        let (a, b) = (head[i], head[i + half]);
        head[i] = a * c - b * s;
        head[i + half] = b * c + a * s;
    }
}

/// Logits (as values, not lanes) at every position of `tokens`.
pub fn full_sequence_logits(
    model: &QuantModel,
    ckpt: &Checkpoint,
    tokens: &[u32],
) -> Vec<Vec<f64>> {
    let c = &ckpt.config;
    let (h, d) = (c.hidden_size, c.head_dim);
    let (nh, nkv) = (c.num_attention_heads, c.num_key_value_heads);
    let n = tokens.len();
    let freqs = inv_freq(c.rope_theta, d, c.rope_scaling);
    let mut xs: Vec<Vec<f64>> = tokens
        .iter()
        .map(|&t| {
            (0..h)
                .map(|j| model.embed_tokens.dequant(t as usize, j))
                .collect()
        })
        .collect();
    for (i, layer) in model.layers.iter().enumerate() {
        let ln1 = vector(ckpt, &names::input_layernorm(i));
        let ln2 = vector(ckpt, &names::post_attention_layernorm(i));
        let bias = |name: String| c.qkv_bias().then(|| vector(ckpt, &name));
        let (bq, bk, bv) = (
            bias(names::q_proj_bias(i)),
            bias(names::k_proj_bias(i)),
            bias(names::v_proj_bias(i)),
        );
        let bqkv: Option<Vec<f64>> = bq.map(|q| [q, bk.unwrap(), bv.unwrap()].concat());
        let bo = c
            .o_proj_bias()
            .then(|| vector(ckpt, &names::o_proj_bias(i)));
        let attn = &layer.self_attn;
        // q, k, v of every position, rotated.
        let mut qs = Vec::with_capacity(n);
        let mut ks = Vec::with_capacity(n);
        let mut vs = Vec::with_capacity(n);
        for (pos, x) in xs.iter().enumerate() {
            let y = linear(
                &attn.qkv_proj,
                &rms_norm(x, &ln1, c.rms_norm_eps),
                bqkv.as_deref(),
            );
            let (mut q, rest) = (y[..nh * d].to_vec(), &y[nh * d..]);
            let (mut k, v) = (rest[..nkv * d].to_vec(), rest[nkv * d..].to_vec());
            q.chunks_mut(d).for_each(|hd| rotate(hd, &freqs, pos));
            k.chunks_mut(d).for_each(|hd| rotate(hd, &freqs, pos));
            qs.push(q);
            ks.push(k);
            vs.push(v);
        }
        // repeat_kv: kv head j serves query heads j*n_rep .. (j+1)*n_rep.
        let kv_of_head: Vec<usize> = (0..nkv).flat_map(|j| vec![j; nh / nkv]).collect();
        for (pos, x) in xs.iter_mut().enumerate() {
            let mut o = Vec::with_capacity(nh * d);
            for (hq, &j) in kv_of_head.iter().enumerate() {
                let q = &qs[pos][hq * d..(hq + 1) * d];
                let scores: Vec<f64> = (0..n)
                    .map(|t| {
                        if t > pos {
                            f64::NEG_INFINITY
                        } else {
                            let k = &ks[t][j * d..(j + 1) * d];
                            q.iter().zip(k).map(|(a, b)| a * b).sum::<f64>() / (d as f64).sqrt()
                        }
                    })
                    .collect();
                let m = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
                let z: f64 = e.iter().sum();
                for dd in 0..d {
                    o.push((0..n).map(|t| e[t] / z * vs[t][j * d + dd]).sum());
                }
            }
            let y = linear(&attn.o_proj, &o, bo.as_deref());
            x.iter_mut().zip(&y).for_each(|(a, b)| *a += b);
            let gu = linear(
                &layer.mlp.gate_up_proj,
                &rms_norm(x, &ln2, c.rms_norm_eps),
                None,
            );
            let ni = c.intermediate_size;
            let m: Vec<f64> = (0..ni)
                .map(|k| gu[k] / (1.0 + (-gu[k]).exp()) * gu[ni + k])
                .collect();
            let y = linear(&layer.mlp.down_proj, &m, None);
            x.iter_mut().zip(&y).for_each(|(a, b)| *a += b);
        }
    }
    let norm = vector(ckpt, &names::final_norm());
    xs.iter()
        .map(|x| linear(model.lm_head(), &rms_norm(x, &norm, c.rms_norm_eps), None))
        .collect()
}
