//! Test helpers shared by the numerics modules' unit tests.

/// A seeded stream of uniform values in [-1, 1) (Knuth's MMIX LCG, top 53 bits): the same
/// inputs on every machine, with no dependency on a random-number crate's value stability.
pub(crate) fn uniform_pm1(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed;
    move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}
