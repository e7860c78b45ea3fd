//! An independent, deliberately plain recomputation of a whole sequence, for tests only.
//!
//! It shares no code with the float reference: it reads the checkpoint's tensors through
//! `TensorView::to_f32`, computes everything in f64 with plain loops, processes all positions
//! at once with an explicit causal mask instead of a KV cache, derives RoPE frequencies
//! (including Llama 3 scaling) from the published formulas in f64, and expands kv heads the
//! way HF's `repeat_kv` does (kv head `j` repeated `n_rep` times, in order) instead of
//! computing `h / n_rep`. Agreement with the f32 decode therefore checks the cache, the
//! kernels, the head mapping and the rounding choices all at once.

use tokenfab_checkpoint::{names, Checkpoint, RopeScaling};

fn tensor(ckpt: &Checkpoint, name: &str) -> Vec<f64> {
    let view = ckpt.tensor(name).expect("naive reference: tensor");
    view.to_f32().into_iter().map(f64::from).collect()
}

/// `w` is `[rows, x.len()]` row-major.
fn linear(w: &[f64], x: &[f64], bias: Option<&[f64]>) -> Vec<f64> {
    let cols = x.len();
    (0..w.len() / cols)
        .map(|r| {
            let s: f64 = (0..cols).map(|c| w[r * cols + c] * x[c]).sum();
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
            match scaling {
                None => f,
                Some(RopeScaling::Llama3 {
                    factor,
                    low_freq_factor,
                    high_freq_factor,
                    original_max_position_embeddings,
                }) => {
                    let old = original_max_position_embeddings as f64;
                    let wavelen = 2.0 * std::f64::consts::PI / f;
                    if wavelen < old / high_freq_factor {
                        f
                    } else if wavelen > old / low_freq_factor {
                        f / factor
                    } else {
                        let s = (old / wavelen - low_freq_factor)
                            / (high_freq_factor - low_freq_factor);
                        (1.0 - s) * f / factor + s * f
                    }
                }
            }
        })
        .collect()
}

/// Rotates `x` (one head) to position `pos`, pairing `i` with `i + d/2`.
fn rotate(x: &mut [f64], pos: usize, freqs: &[f64]) {
    let half = x.len() / 2;
    for i in 0..half {
        let (c, s) = ((pos as f64 * freqs[i]).cos(), (pos as f64 * freqs[i]).sin());
        let (a, b) = (x[i], x[i + half]);
        x[i] = a * c - b * s;
        x[i + half] = b * c + a * s;
    }
}

/// Logits for every position of `tokens` (row `t` = after consuming `tokens[t]`).
pub(super) fn full_sequence_logits(ckpt: &Checkpoint, tokens: &[u32]) -> Vec<Vec<f64>> {
    let c = &ckpt.config;
    let (nh, nkv, d) = (c.num_attention_heads, c.num_key_value_heads, c.head_dim);
    let n_rep = nh / nkv;
    let eps = c.rms_norm_eps;
    let freqs = inv_freq(c.rope_theta, d, c.rope_scaling);
    let embed = tensor(ckpt, &names::embed_tokens());
    let hs = c.hidden_size;
    let mut h: Vec<Vec<f64>> = tokens
        .iter()
        .map(|&t| embed[t as usize * hs..(t as usize + 1) * hs].to_vec())
        .collect();
    let seq = tokens.len();

    for l in 0..c.num_hidden_layers {
        let bias = |name: String| c.qkv_bias().then(|| tensor(ckpt, &name));
        let (wq, wk, wv, wo) = (
            tensor(ckpt, &names::q_proj(l)),
            tensor(ckpt, &names::k_proj(l)),
            tensor(ckpt, &names::v_proj(l)),
            tensor(ckpt, &names::o_proj(l)),
        );
        let (bq, bk, bv) = (
            bias(names::q_proj_bias(l)),
            bias(names::k_proj_bias(l)),
            bias(names::v_proj_bias(l)),
        );
        let bo = c
            .o_proj_bias()
            .then(|| tensor(ckpt, &names::o_proj_bias(l)));
        let ln1 = tensor(ckpt, &names::input_layernorm(l));
        let ln2 = tensor(ckpt, &names::post_attention_layernorm(l));

        let x: Vec<Vec<f64>> = h.iter().map(|v| rms_norm(v, &ln1, eps)).collect();
        let mut q: Vec<Vec<f64>> = x.iter().map(|v| linear(&wq, v, bq.as_deref())).collect();
        let mut k: Vec<Vec<f64>> = x.iter().map(|v| linear(&wk, v, bk.as_deref())).collect();
        let v: Vec<Vec<f64>> = x.iter().map(|v| linear(&wv, v, bv.as_deref())).collect();
        for t in 0..seq {
            q[t].chunks_mut(d).for_each(|hd| rotate(hd, t, &freqs));
            k[t].chunks_mut(d).for_each(|hd| rotate(hd, t, &freqs));
        }
        // repeat_kv: the expanded head list is kv 0 (n_rep times), kv 1 (n_rep times), ...
        let expanded: Vec<usize> = (0..nkv)
            .flat_map(|j| std::iter::repeat_n(j, n_rep))
            .collect();
        let scale = 1.0 / (d as f64).sqrt();
        for t in 0..seq {
            let mut ctx = vec![0.0; nh * d];
            for head in 0..nh {
                let j = expanded[head];
                let qh = &q[t][head * d..(head + 1) * d];
                // Scores over all positions, then the causal mask (-inf above the diagonal).
                let scores: Vec<f64> = (0..seq)
                    .map(|s| {
                        if s > t {
                            f64::NEG_INFINITY
                        } else {
                            let kh = &k[s][j * d..(j + 1) * d];
                            qh.iter().zip(kh).map(|(a, b)| a * b).sum::<f64>() * scale
                        }
                    })
                    .collect();
                let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
                let z: f64 = e.iter().sum();
                for s in 0..seq {
                    for i in 0..d {
                        ctx[head * d + i] += e[s] / z * v[s][j * d + i];
                    }
                }
            }
            let o = linear(&wo, &ctx, bo.as_deref());
            h[t].iter_mut().zip(&o).for_each(|(a, b)| *a += b);
        }

        let (wg, wu, wd) = (
            tensor(ckpt, &names::gate_proj(l)),
            tensor(ckpt, &names::up_proj(l)),
            tensor(ckpt, &names::down_proj(l)),
        );
        for ht in h.iter_mut() {
            let x = rms_norm(ht, &ln2, eps);
            let g = linear(&wg, &x, None);
            let u = linear(&wu, &x, None);
            let a: Vec<f64> = g
                .iter()
                .zip(&u)
                .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
                .collect();
            let y = linear(&wd, &a, None);
            ht.iter_mut().zip(&y).for_each(|(a, b)| *a += b);
        }
    }

    let norm = tensor(ckpt, &names::final_norm());
    let head = if c.tie_word_embeddings {
        embed
    } else {
        tensor(ckpt, &names::lm_head())
    };
    h.iter()
        .map(|v| linear(&head, &rms_norm(v, &norm, eps), None))
        .collect()
}
