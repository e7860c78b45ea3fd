//! `Session` and `Checked` on a small fake device whose logits depend on the whole history of
//! the slot, so that wrong positions, chunking or rollback change the numbers.

use tokenfab_runtime::{
    Checked, Column, Device, Limits, RuntimeError, Sampler, Session, SlotLengths, StepOutput,
};

const VOCAB: usize = 16;

struct Fake {
    name: &'static str,
    max_columns: usize,
    history: Vec<Vec<u32>>,
    lengths: SlotLengths,
    /// Every step's columns, for checking how a session chunks.
    log: Vec<Vec<Column>>,
    /// `(step, column, index, delta)`: a perturbation, to make a checked pair disagree.
    fault: Option<(usize, usize, usize, i32)>,
}

impl Fake {
    fn new(name: &'static str, max_columns: usize) -> Self {
        Fake {
            name,
            max_columns,
            history: vec![Vec::new(); 2],
            lengths: SlotLengths::new(2),
            log: Vec::new(),
            fault: None,
        }
    }
}

/// Logits of a history: a hash of every (position, token) pair, spread over the vocabulary.
fn logits_of(history: &[u32]) -> Vec<i32> {
    let h = history.iter().enumerate().fold(17u64, |h, (i, &t)| {
        (h ^ ((t as u64 + 1) * (i as u64 + 3))).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    });
    (0..VOCAB)
        .map(|i| ((h >> (i * 3 % 60)) & 0xff) as i32 * 4096 - 500_000)
        .collect()
}

impl Device for Fake {
    fn name(&self) -> String {
        self.name.into()
    }
    fn limits(&self) -> Limits {
        Limits {
            vocab_size: VOCAB,
            max_columns: self.max_columns,
            context: 24,
            slots: 2,
        }
    }
    fn step(&mut self, columns: &[Column]) -> Result<StepOutput, RuntimeError> {
        let after = self.lengths.check(self, columns)?;
        let mut out = StepOutput {
            logits: vec![],
            next: vec![],
        };
        for (n, c) in columns.iter().enumerate() {
            let h = &mut self.history[c.seq as usize];
            h.truncate(c.pos as usize);
            h.push(c.token);
            let mut l = logits_of(h);
            if let Some((step, col, i, d)) = self.fault {
                if step == self.log.len() && col == n {
                    l[i] += d;
                    l[i + 2] += d;
                }
            }
            out.next
                .push(tokenfab_isa::numerics::argmax::argmax(&l).unwrap() as u32);
            out.logits.push(l);
        }
        self.lengths.commit(after);
        self.log.push(columns.to_vec());
        Ok(out)
    }
    fn reset(&mut self) {
        self.history.iter_mut().for_each(Vec::clear);
        self.lengths.reset();
    }
}

/// Greedy decoding one token per step, from first principles.
fn reference(prompt: &[u32], steps: usize) -> (Vec<u32>, Vec<Vec<i32>>) {
    let mut h = Vec::new();
    let mut rows = Vec::new();
    let mut out = Vec::new();
    for &t in prompt {
        h.push(t);
        rows.push(logits_of(&h));
    }
    while out.len() < steps {
        let next = tokenfab_isa::numerics::argmax::argmax(rows.last().unwrap()).unwrap() as u32;
        out.push(next);
        if out.len() < steps {
            h.push(next);
            rows.push(logits_of(&h));
        }
    }
    (out, rows)
}

#[test]
fn prefill_is_chunked_by_max_columns_and_generation_follows_the_reference() {
    let prompt = [3, 1, 4, 1, 5, 9, 2];
    let mut dev = Fake::new("fake", 3);
    let mut streamed = Vec::new();
    let out = Session::new(&mut dev, 1)
        .unwrap()
        .generate(&prompt, 4, &mut Sampler::greedy(), &mut |t| {
            streamed.push(t);
            true
        })
        .unwrap();
    let (tokens, rows) = reference(&prompt, 4);
    assert_eq!(out.tokens, tokens);
    assert_eq!(streamed, tokens);
    assert_eq!(out.logits, rows);
    assert_eq!(out.logits.len(), prompt.len() + 3);
    // Prefill: 3 + 3 + 1 consecutive positions of slot 1; then one position per step.
    let shape: Vec<Vec<(u32, u32)>> = dev
        .log
        .iter()
        .map(|s| s.iter().map(|c| (c.pos, c.seq)).collect())
        .collect();
    assert_eq!(
        shape,
        vec![
            vec![(0, 1), (1, 1), (2, 1)],
            vec![(3, 1), (4, 1), (5, 1)],
            vec![(6, 1)],
            vec![(7, 1)],
            vec![(8, 1)],
            vec![(9, 1)],
        ]
    );
}

#[test]
fn callback_stops_generation_and_rewind_rolls_back() {
    let mut dev = Fake::new("fake", 2);
    let mut session = Session::new(&mut dev, 0).unwrap();
    let mut seen = 0;
    let out = session
        .generate(&[1, 2, 3], 10, &mut Sampler::greedy(), &mut |_| {
            seen += 1;
            seen < 2
        })
        .unwrap();
    assert_eq!(out.tokens.len(), 2);
    assert_eq!(out.logits.len(), 4);
    assert_eq!(session.position(), 4);
    // Roll back to position 1 and feed other tokens: the rows are those of the new history.
    session.rewind(1);
    let fed = session.feed(&[7, 7, 7]).unwrap();
    assert_eq!(fed.logits[2], logits_of(&[1, 7, 7, 7]));
    assert_eq!(session.position(), 4);
}

#[test]
fn sampling_is_seeded_and_greedy_at_zero() {
    let row = logits_of(&[5]);
    let greedy = tokenfab_isa::numerics::argmax::argmax(&row).unwrap() as u32;
    let draws = |t: f64, seed| {
        let mut s = Sampler::new(t, seed).unwrap();
        (0..50).map(|_| s.pick(&row, greedy)).collect::<Vec<u32>>()
    };
    assert!(draws(0.0, 1).iter().all(|&t| t == greedy));
    assert_eq!(draws(2.0, 7), draws(2.0, 7));
    assert_ne!(draws(2.0, 7), draws(2.0, 8));
    assert!(
        draws(50.0, 3).iter().any(|&t| t != greedy),
        "a hot sampler explores"
    );
    assert_eq!(
        Sampler::new(f64::NAN, 0).unwrap_err().to_string(),
        "sampling temperature NaN must be a finite number >= 0"
    );
    assert!(Sampler::new(-1.0, 0).is_err());
}

#[test]
fn devices_refuse_bad_steps_the_same_way() {
    let mut dev = Fake::new("fake", 2);
    let col = |token, pos, seq| Column { token, pos, seq };
    let msg = |dev: &mut Fake, cols: &[Column]| dev.step(cols).unwrap_err().to_string();
    assert_eq!(
        msg(&mut dev, &[col(0, 1, 0)]),
        "fake: column 0: position 1 skips ahead of slot 0, which holds 0 positions"
    );
    assert_eq!(
        msg(&mut dev, &[col(0, 0, 0); 3]),
        "fake: 3 columns in one step: a step carries 1 to 2"
    );
    assert_eq!(
        msg(&mut dev, &[col(0, 0, 2)]),
        "fake: column 0: slot 2 does not exist (the device has 2 slots)"
    );
    assert_eq!(
        msg(&mut dev, &[col(16, 0, 0)]),
        "fake: column 0: token 16 is outside the vocabulary of 16"
    );
    // A refused step changes nothing: position 0 is still the next one.
    assert!(dev.step(&[col(0, 0, 0), col(1, 1, 0)]).is_ok());
    assert!(dev.step(&[col(2, 0, 1), col(3, 2, 0)]).is_ok());
    let mut s = Session::new(&mut dev, 0).unwrap();
    assert_eq!(
        s.generate(&[1; 20], 6, &mut Sampler::greedy(), &mut |_| true)
            .unwrap_err()
            .to_string(),
        "25 positions (prompt 20 + 6 steps) exceed the device's context of 24"
    );
    assert!(matches!(
        s.generate(&[], 1, &mut Sampler::greedy(), &mut |_| true),
        Err(RuntimeError::EmptyPrompt)
    ));
    assert!(Session::new(&mut dev, 2).is_err());
}

#[test]
fn checked_passes_equal_devices_and_names_the_first_mismatch() {
    let mut pair = Checked::new(Fake::new("fake", 3), Fake::new("other", 3)).unwrap();
    let out = Session::new(&mut pair, 0)
        .unwrap()
        .generate(&[1, 2, 3, 4, 5], 3, &mut Sampler::greedy(), &mut |_| true)
        .unwrap();
    assert_eq!(out.tokens, reference(&[1, 2, 3, 4, 5], 3).0);
    assert_eq!(pair.steps(), 4);

    let mut bad = Fake::new("bad", 3);
    bad.fault = Some((1, 1, 3, -5));
    let mut pair = Checked::new(Fake::new("fake", 3), bad).unwrap();
    let e = Session::new(&mut pair, 0)
        .unwrap()
        .generate(&[1, 2, 3, 4, 5], 3, &mut Sampler::greedy(), &mut |_| true)
        .unwrap_err();
    let x = logits_of(&[1, 2, 3, 4, 5])[3];
    assert_eq!(
        e.to_string(),
        format!(
            "step 1, column 1 (position 4): logits differ first at index 3 (fake: {x}, bad: {}); 2 of 16 indices differ",
            x - 5
        )
    );

    let e = Checked::new(Fake::new("fake", 3), Fake::new("narrow", 2))
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "max columns differ between fake (3) and narrow (2)"
    );
}
