//! The matrix engine's row sum, written so that the compiler vectorises it, and proven equal to
//! the spec's [`row_dot`](tokenfab_isa::numerics::matmul::row_dot) by a property test.
//!
//! `matmul::row_dot` is the definition: `R = sum_g m_g * sum_{j in g} q_j a_j`, exact integer
//! arithmetic whose bounds its module proves (group sums below 2^29, row sums below 2^54). This
//! file computes the same sums in the same integer types, with two differences that cannot
//! change a bit: the shape checks run once per matrix (in [`super::weights::matvec`]) instead
//! of once per row, and the group size is a compile-time constant, so that the inner loop over
//! a group unrolls into widening 8 x 16-bit multiply-adds (`vpmaddwd` on x86-64). On x86-64 with
//! AVX2 the same source is compiled a second time with AVX2 enabled and picked at run time; the
//! arithmetic is integer, so the instruction set changes the speed only.
//!
//! The test `fast_row_sum_equals_the_spec_row_dot` checks equality on random rows of every
//! supported group size, and `worst_case_rows_agree` at the bounds the spec's proof uses.

#[cfg(test)]
use tokenfab_isa::numerics::weights::SUPPORTED_GROUPS;

/// The row sum with the group size `G` fixed at compile time.
#[inline(always)]
fn row_sum_g<const G: usize>(codes: &[i8], scales: &[u16], act: &[i16]) -> i64 {
    let mut acc: i64 = 0;
    for ((c, a), &m) in codes.chunks_exact(G).zip(act.chunks_exact(G)).zip(scales) {
        // |sum| < 2^29 (the spec's group bound), so the i32 sum is exact.
        let s: i32 = c
            .iter()
            .zip(a)
            .map(|(&q, &x)| q as i16 as i32 * x as i32)
            .sum();
        acc += s as i64 * m as i64;
    }
    acc
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    /// [`super::row_sum_g`] compiled with AVX2 enabled.
    ///
    /// # Safety
    /// The CPU must support AVX2 (checked by the caller).
    #[target_feature(enable = "avx2")]
    pub unsafe fn row_sum_g<const G: usize>(codes: &[i8], scales: &[u16], act: &[i16]) -> i64 {
        super::row_sum_g::<G>(codes, scales, act)
    }
}

/// Whether the AVX2 build of the row sum may run on this CPU.
pub fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `sum_g scales[g] * sum_{j in g} codes[j] act[j]` for one row, exactly as `matmul::row_dot`.
///
/// Contract (checked once per matrix by the caller, with the spec's own `check_shape`):
/// `group` is one of [`SUPPORTED_GROUPS`], `codes.len() == act.len()` is a multiple of it and
/// at most `matmul::MAX_K`, `scales.len() == codes.len() / group`, and every code is at most 127
/// in magnitude. Returns `None` for a group size outside the supported ones.
pub fn row_sum(codes: &[i8], scales: &[u16], act: &[i16], group: usize, avx2: bool) -> Option<i64> {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is only true when `avx2_available()` said so.
        return unsafe {
            match group {
                32 => Some(avx2::row_sum_g::<32>(codes, scales, act)),
                64 => Some(avx2::row_sum_g::<64>(codes, scales, act)),
                128 => Some(avx2::row_sum_g::<128>(codes, scales, act)),
                _ => None,
            }
        };
    }
    let _ = avx2;
    match group {
        32 => Some(row_sum_g::<32>(codes, scales, act)),
        64 => Some(row_sum_g::<64>(codes, scales, act)),
        128 => Some(row_sum_g::<128>(codes, scales, act)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tokenfab_isa::numerics::matmul::{row_dot, MAX_K};
    use tokenfab_isa::numerics::weights::QuantRow;

    fn spec(codes: &[i8], scales: &[u16], act: &[i16], group: usize) -> i64 {
        let row = QuantRow {
            codes,
            scales,
            exp: 0,
            group,
        };
        row_dot(row, act).unwrap()
    }

    fn check(codes: &[i8], scales: &[u16], act: &[i16], group: usize) {
        let expected = spec(codes, scales, act, group);
        assert_eq!(row_sum(codes, scales, act, group, false), Some(expected));
        if avx2_available() {
            assert_eq!(row_sum(codes, scales, act, group, true), Some(expected));
        }
    }

    /// A row of `groups` groups of a supported size, with codes of INT8's or INT4's range.
    fn row() -> impl Strategy<Value = (Vec<i8>, Vec<u16>, Vec<i16>, usize)> {
        (0..SUPPORTED_GROUPS.len(), 1usize..12, prop::bool::ANY).prop_flat_map(
            |(g, groups, int4)| {
                let group = SUPPORTED_GROUPS[g];
                let k = group * groups;
                let qmax: i8 = if int4 { 7 } else { 127 };
                (
                    prop::collection::vec(-qmax..=qmax, k),
                    prop::collection::vec(any::<u16>(), groups),
                    prop::collection::vec(-32767i16..=32767, k),
                    Just(group),
                )
            },
        )
    }

    proptest! {
        #[test]
        fn fast_row_sum_equals_the_spec_row_dot((codes, scales, act, group) in row()) {
            check(&codes, &scales, &act, group);
        }
    }

    #[test]
    fn worst_case_rows_agree() {
        for &group in SUPPORTED_GROUPS {
            for (q, x) in [(127i8, 32767i16), (-127, 32767), (127, -32767), (7, -32767)] {
                let codes = vec![q; MAX_K];
                let act = vec![x; MAX_K];
                let scales = vec![u16::MAX; MAX_K / group];
                check(&codes, &scales, &act, group);
            }
        }
        assert_eq!(row_sum(&[0; 48], &[1], &[0; 48], 48, false), None);
    }
}
