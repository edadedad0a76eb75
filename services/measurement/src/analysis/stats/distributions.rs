//! The distributions the tests of significance read their p-values from: the standard normal
//! and Student's t (CDF, two-sided tail, quantile), through the incomplete gamma and beta
//! functions. Accurate to ~1e-12 or better, so p-values match the reference packages.

use std::f64::consts::PI;

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error ~1e-15).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return ln_gamma(x + 1.0) - x.ln();
    }
    let x = x - 1.0;
    let series = C.iter().skip(1).enumerate().fold(C[0], |acc, (i, c)| acc + c / (x + (i + 1) as f64));
    let t = x + 7.5;
    0.5 * (2.0 * PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

/// Regularized upper incomplete gamma Q(a, x) (Numerical Recipes gser/gcf).
fn gamma_q(a: f64, x: f64) -> f64 {
    const EPS: f64 = 1e-16;
    const TINY: f64 = 1e-300;
    if x.is_nan() {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 1.0;
    }
    let front = (-x + a * x.ln() - ln_gamma(a)).exp();
    if x < a + 1.0 {
        let (mut ap, mut term) = (a, 1.0 / a);
        let mut sum = term;
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * EPS {
                break;
            }
        }
        1.0 - sum * front
    } else {
        let mut b = x + 1.0 - a;
        let (mut c, mut d) = (1.0 / TINY, 1.0 / b);
        let mut h = d;
        for i in 1..10_000 {
            let i = f64::from(i);
            let an = -i * (i - a);
            b += 2.0;
            d = an * d + b;
            d = if d.abs() < TINY { TINY } else { d };
            c = b + an / c;
            c = if c.abs() < TINY { TINY } else { c };
            d = 1.0 / d;
            h *= d * c;
            if (d * c - 1.0).abs() < EPS {
                break;
            }
        }
        front * h
    }
}

/// Continued fraction of the incomplete beta function (modified Lentz, Numerical Recipes betacf).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const EPS: f64 = 1e-15;
    const TINY: f64 = 1e-300;
    let clamp = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / clamp(1.0 - qab * x / qap);
    let mut h = d;
    // Converges in O(sqrt(max(a, b))) terms; the cap covers df up to ~1e8.
    for m in 1..100_000 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let even = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / clamp(1.0 + even * d);
        c = clamp(1.0 + even / c);
        h *= d * c;
        let odd = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / clamp(1.0 + odd * d);
        c = clamp(1.0 + odd / c);
        h *= d * c;
        if (d * c - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// Regularized incomplete beta `I_x(a, b)`; takes `y = 1 − x` from the caller, who can often
/// compute it without cancellation.
fn inc_beta(a: f64, b: f64, x: f64, y: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if y <= 0.0 {
        return 1.0;
    }
    let front = (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * y.ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) { front * beta_cf(a, b, x) / a } else { 1.0 - front * beta_cf(b, a, y) / b }
}

/// Standard normal CDF via erfc(x) = Q(½, x²), accurate to ~1e-15 (also in the tails).
#[must_use]
#[cfg(test)] // Checked against published values; the analyses use the functions built on it.
pub fn normal_cdf(z: f64) -> f64 {
    let tail = 0.5 * gamma_q(0.5, 0.5 * z * z);
    if z.is_nan() {
        f64::NAN
    } else if z < 0.0 {
        tail
    } else {
        1.0 - tail
    }
}

pub(super) fn normal_two_sided_p(z: f64) -> f64 {
    gamma_q(0.5, 0.5 * z * z)
}

/// P(|T| > |t|) = I_{df/(df+t²)}(df/2, ½); NaN for a NaN argument or df ≤ 0, normal for df = ∞.
#[must_use]
pub fn student_t_two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t.is_infinite() {
        return 0.0;
    }
    if df.is_infinite() {
        return normal_two_sided_p(t);
    }
    let t2 = t * t;
    inc_beta(0.5 * df, 0.5, df / (df + t2), t2 / (df + t2))
}

/// Student t CDF through the incomplete beta function (accurate to ~1e-12 for moderate df).
#[must_use]
#[cfg(test)] // Checked against published values; the analyses use the functions built on it.
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * student_t_two_sided_p(t, df);
    if t < 0.0 { tail } else { 1.0 - tail }
}

/// Inverse of [`student_t_cdf`] by bracketing and bisection to full precision (robust for any
/// df, and speed is irrelevant at a few hundred CDF evaluations). ±∞ at p = 0 or 1.
#[must_use]
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    if p.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    // Solve the upper tail P(T > t) = q for t ≥ 0; 1 − p is exact for p ≥ ½, so no digits are lost.
    let q = p.min(1.0 - p);
    let upper = |t: f64| 0.5 * student_t_two_sided_p(t, df);
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    while upper(hi) > q && hi.is_finite() {
        lo = hi;
        hi *= 2.0;
    }
    for _ in 0..2_000 {
        let mid = lo + 0.5 * (hi - lo);
        if mid <= lo || mid >= hi {
            break;
        }
        if upper(mid) > q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let t = lo + 0.5 * (hi - lo);
    if p < 0.5 { -t } else { t }
}
