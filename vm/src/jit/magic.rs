//! Signed division by a constant as a multiplication (the method of
//! Granlund and Montgomery, as Hacker's Delight derives it): `n / d` is
//! the high word of `n * m`, corrected by `n` when `m`'s sign differs from
//! `d`'s, shifted right by `s`, plus one when negative (so it rounds toward
//! zero). The remainder is `n - q * d`. A power of two `±2^k` needs no
//! multiply: `n` biased by `2^k - 1` when negative, shifted right by `k`
//! (negated for `-2^k`); the remainder is `n` less the biased `n` with its
//! low `k` bits cleared.

#![allow(clippy::useless_conversion)] // dynasm's `Rq(r)` expands to `r.into()`

use dynasmrt::x64::Assembler;
use dynasmrt::{DynasmApi, dynasm};

/// The magic multiplier and shift for `d`, `|d| >= 2`.
pub(super) fn magic(d: i64) -> (i64, u32) {
    const TWO63: u64 = 1 << 63;
    let ad = d.unsigned_abs();
    let t = TWO63.wrapping_add((d as u64) >> 63);
    let anc = t - 1 - t % ad;
    let mut p: u32 = 63;
    let mut q1 = TWO63 / anc;
    let mut r1 = TWO63 - q1 * anc;
    let mut q2 = TWO63 / ad;
    let mut r2 = TWO63 - q2 * ad;
    loop {
        p += 1;
        q1 = q1.wrapping_mul(2);
        r1 = r1.wrapping_mul(2);
        if r1 >= anc {
            q1 = q1.wrapping_add(1);
            r1 = r1.wrapping_sub(anc);
        }
        q2 = q2.wrapping_mul(2);
        r2 = r2.wrapping_mul(2);
        if r2 >= ad {
            q2 = q2.wrapping_add(1);
            r2 = r2.wrapping_sub(ad);
        }
        let delta = ad - r2;
        if !(q1 < delta || (q1 == delta && r1 == 0)) || p >= 127 {
            break;
        }
    }
    let m = q2.wrapping_add(1) as i64;
    (if d < 0 { m.wrapping_neg() } else { m }, p - 64)
}

/// `k` when `|d|` is `2^k`, `1 <= k <= 62`.
fn power_of_two(d: i64) -> Option<u32> {
    let ad = d.unsigned_abs();
    (ad.is_power_of_two() && (2..=1 << 62).contains(&ad)).then(|| ad.trailing_zeros())
}

/// What `emit_div_const` computes, in Rust (for tests, and the spec of the
/// emitted code).
#[cfg(test)]
fn div_by_magic(n: i64, d: i64, rem: bool) -> i64 {
    if d == 1 {
        return if rem { 0 } else { n };
    }
    if let Some(k) = power_of_two(d) {
        let biased = n.wrapping_add(((n >> 63) as u64 >> (64 - k)) as i64);
        if rem {
            return n.wrapping_sub(biased & !((1i64 << k) - 1));
        }
        let q = biased >> k;
        return if d < 0 { q.wrapping_neg() } else { q };
    }
    let (m, s) = magic(d);
    let mut q = ((i128::from(m) * i128::from(n)) >> 64) as i64;
    if d > 0 && m < 0 {
        q = q.wrapping_add(n);
    }
    if d < 0 && m > 0 {
        q = q.wrapping_sub(n);
    }
    q >>= s;
    q = q.wrapping_add(((q as u64) >> 63) as i64);
    if rem {
        n.wrapping_sub(q.wrapping_mul(d))
    } else {
        q
    }
}

/// Replaces register `n` (not rax or rdx) with `n / d` or `n % d`, for
/// `d` not 0, -1 or `i64::MIN`. Uses rax and rdx.
pub(super) fn emit_div_const(a: &mut Assembler, n: u8, d: i64, rem: bool) {
    if d == 1 {
        if rem {
            dynasm!(a ; .arch x64 ; xor Rd(n), Rd(n));
        }
        return;
    }
    if let Some(k) = power_of_two(d) {
        // The bias: 2^k - 1 when n is negative, else 0.
        dynasm!(a ; .arch x64 ; mov rdx, Rq(n));
        if k > 1 {
            dynasm!(a ; .arch x64 ; sar rdx, 63);
        }
        let right = (64 - k) as i8;
        dynasm!(a ; .arch x64 ; shr rdx, right);
        if rem {
            let mask = -(1i64 << k);
            dynasm!(a ; .arch x64 ; add rdx, Rq(n));
            match i32::try_from(mask) {
                Ok(m) => dynasm!(a ; .arch x64 ; and rdx, m),
                Err(_) => dynasm!(a ; .arch x64 ; mov rax, QWORD mask ; and rdx, rax),
            }
            dynasm!(a ; .arch x64 ; sub Rq(n), rdx);
        } else {
            let k = k as i8;
            dynasm!(a ; .arch x64 ; add Rq(n), rdx ; sar Rq(n), k);
            if d < 0 {
                dynasm!(a ; .arch x64 ; neg Rq(n));
            }
        }
        return;
    }
    let (m, s) = magic(d);
    dynasm!(a ; .arch x64 ; mov rax, QWORD m ; imul Rq(n));
    if d > 0 && m < 0 {
        dynasm!(a ; .arch x64 ; add rdx, Rq(n));
    }
    if d < 0 && m > 0 {
        dynasm!(a ; .arch x64 ; sub rdx, Rq(n));
    }
    if s > 0 {
        let s = s as i8;
        dynasm!(a ; .arch x64 ; sar rdx, s);
    }
    dynasm!(a ; .arch x64
        ; mov rax, rdx
        ; shr rax, 63
        ; add rdx, rax
    );
    if rem {
        match i32::try_from(d) {
            Ok(k) => dynasm!(a ; .arch x64 ; imul rdx, rdx, k ; sub Rq(n), rdx),
            Err(_) => dynasm!(a ; .arch x64 ; mov rax, QWORD d ; imul rdx, rax ; sub Rq(n), rdx),
        }
    } else {
        dynasm!(a ; .arch x64 ; mov Rq(n), rdx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_division_agrees_with_wrapping_div() {
        let ns = [
            0,
            1,
            -1,
            2,
            -2,
            7,
            -7,
            1009,
            -1009,
            123_456_789,
            -987_654_321,
            i64::MAX,
            i64::MIN,
            i64::MAX - 1,
            i64::MIN + 1,
            1 << 40,
            -(1 << 40) - 3,
        ];
        let ds = [
            1,
            2,
            -2,
            3,
            -3,
            5,
            7,
            10,
            1009,
            -1009,
            641,
            1 << 20,
            -(1 << 33),
            i64::MAX,
            i64::MIN + 1,
            6_700_417,
            99_999_999_977,
        ];
        let ds = ds
            .iter()
            .chain(&[4, -4, 8, 1 << 31, -(1 << 31), 1 << 32, 1 << 62, -(1 << 62)]);
        for &d in ds {
            for &n in &ns {
                assert_eq!(div_by_magic(n, d, false), n.wrapping_div(d), "{n} / {d}");
                assert_eq!(div_by_magic(n, d, true), n.wrapping_rem(d), "{n} % {d}");
            }
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            for _ in 0..2000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let n = x as i64 >> (x % 60);
                assert_eq!(div_by_magic(n, d, false), n.wrapping_div(d), "{n} / {d}");
                assert_eq!(div_by_magic(n, d, true), n.wrapping_rem(d), "{n} % {d}");
            }
        }
    }
}
