//! Statistics behind the analyses: driver analysis (stepwise regression of overall satisfaction on
//! process scores), 3K linkage (correlation, slope with confidence interval) and effect evaluation
//! (before/after significance tests).
//!
//! Standard library only, so the numbers can be checked in isolation; every routine validates its
//! input and returns a [`StatsError`] instead of panicking, because requests reach it directly.

use std::f64::consts::PI;
use std::fmt;

/// Why a statistic could not be computed.
#[derive(Debug, Clone, PartialEq)]
pub enum StatsError {
    /// The method needs more observations (or trials, or events) than were given.
    TooFewObservations { needed: usize, got: usize },
    /// Collinear predictors or a variable with no variance: the estimate is not identified.
    Singular,
    /// Ragged input: lengths of paired slices or rows differ.
    Mismatch,
    /// A NaN or infinite value: refused rather than silently propagated into results.
    NotFinite,
    /// A parameter outside its domain (a probability outside 0..=1, a non-positive exposure, more
    /// successes than trials).
    OutOfRange { what: &'static str },
}

impl fmt::Display for StatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooFewObservations { needed: 1, got } => write!(f, "at least 1 observation is needed, {got} given"),
            Self::TooFewObservations { needed, got } => {
                write!(f, "at least {needed} observations are needed, {got} given")
            }
            Self::Singular => f.write_str("the data are singular: collinear predictors or a variable without variance"),
            Self::Mismatch => f.write_str("the inputs have mismatched lengths"),
            Self::NotFinite => f.write_str("the inputs contain NaN or infinite values"),
            Self::OutOfRange { what } => write!(f, "{what} is out of range"),
        }
    }
}

impl std::error::Error for StatsError {}

/// Relative size below which a centred column counts as constant (its spread is rounding noise).
const CONSTANT_TOL: f64 = 1e-12;
/// Relative size of the part of a predictor not explained by the earlier ones below which the
/// design counts as collinear.
const COLLINEAR_TOL: f64 = 1e-9;

fn check_finite(values: &[f64]) -> Result<(), StatsError> {
    if values.iter().all(|v| v.is_finite()) { Ok(()) } else { Err(StatsError::NotFinite) }
}

fn need(needed: usize, got: usize) -> Result<(), StatsError> {
    if got < needed { Err(StatsError::TooFewObservations { needed, got }) } else { Ok(()) }
}

fn paired(x: &[f64], y: &[f64], needed: usize) -> Result<(), StatsError> {
    if x.len() != y.len() {
        return Err(StatsError::Mismatch);
    }
    check_finite(x)?;
    check_finite(y)?;
    need(needed, x.len())
}

fn sum_sq(values: &[f64]) -> f64 {
    values.iter().map(|v| v * v).sum()
}

/// Mean and the deviations from it; centring first keeps digits on 0..100 scales.
fn centre(values: &[f64]) -> (f64, Vec<f64>) {
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    (mean, values.iter().map(|v| v - mean).collect())
}

/// Whether centred values are only rounding noise around a constant.
fn is_constant(raw: &[f64], centred: &[f64]) -> bool {
    sum_sq(centred).sqrt() <= CONSTANT_TOL * sum_sq(raw).sqrt()
}

/// Arithmetic mean; `None` when empty or when a value is not finite.
#[must_use]
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty() && check_finite(values).is_ok()).then(|| centre(values).0)
}

/// Sample variance (n − 1 denominator), two-pass for accuracy; `None` when n < 2 or not finite.
#[must_use]
pub fn sample_variance(values: &[f64]) -> Option<f64> {
    (values.len() >= 2 && check_finite(values).is_ok()).then(|| sum_sq(&centre(values).1) / (values.len() - 1) as f64)
}

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

fn normal_two_sided_p(z: f64) -> f64 {
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

/// A coefficient with its standard error, t statistic and two-sided p-value.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub estimate: f64,
    pub std_error: f64,
    pub t: f64,
    pub p_value: f64,
}

impl Estimate {
    /// A zero standard error (exact fit) gives t = ±∞ and p = 0, or t = 0 and p = 1 for a zero
    /// estimate, rather than NaN.
    fn new(estimate: f64, std_error: f64, df: f64) -> Self {
        let t = if std_error > 0.0 {
            estimate / std_error
        } else if estimate == 0.0 {
            0.0
        } else {
            estimate.signum() * f64::INFINITY
        };
        Self { estimate, std_error, t, p_value: student_t_two_sided_p(t, df) }
    }
}

/// An ordinary-least-squares fit with an intercept.
#[derive(Debug, Clone, PartialEq)]
pub struct Ols {
    pub intercept: Estimate,
    pub coefficients: Vec<Estimate>,
    pub r_squared: f64,
    pub adjusted_r_squared: f64,
    pub residual_std_error: f64,
    pub n: usize,
    /// Mean of each predictor column.
    pub predictor_means: Vec<f64>,
    /// Standardized coefficients (beta · sd(x)/sd(y)), the usual "importance".
    pub standardized: Vec<f64>,
}

/// Validates a design: rows all of one length k, as many as responses, all finite; returns k.
fn check_design(rows: &[Vec<f64>], y: &[f64]) -> Result<usize, StatsError> {
    let k = rows.first().map_or(0, Vec::len);
    if rows.len() != y.len() || rows.iter().any(|r| r.len() != k) {
        return Err(StatsError::Mismatch);
    }
    check_finite(y)?;
    rows.iter().try_for_each(|r| check_finite(r))?;
    Ok(k)
}

/// Ordinary least squares with an intercept. `rows[i]` holds the predictors of observation i (all
/// rows the same length k ≥ 0), `y[i]` its response. Needs n ≥ k + 2 (one residual degree of
/// freedom). Solved by Householder QR of the centred design, which stays accurate where the normal
/// equations would square the condition number; collinear predictors, constant predictors or a
/// constant response give [`StatsError::Singular`].
pub fn ols(rows: &[Vec<f64>], y: &[f64]) -> Result<Ols, StatsError> {
    let k = check_design(rows, y)?;
    let n = y.len();
    need(k + 2, n)?;
    let mut raw: Vec<Vec<f64>> = vec![Vec::with_capacity(n); k];
    for row in rows {
        raw.iter_mut().zip(row).for_each(|(col, v)| col.push(*v));
    }
    let (mean_y, yc) = centre(y);
    let sst = sum_sq(&yc);
    if is_constant(y, &yc) {
        return Err(StatsError::Singular);
    }
    let (predictor_means, centred): (Vec<f64>, Vec<Vec<f64>>) = raw.iter().map(|c| centre(c)).unzip();
    let norms: Vec<f64> = centred.iter().map(|c| sum_sq(c).sqrt()).collect();
    if raw.iter().zip(&centred).any(|(r, c)| is_constant(r, c)) {
        return Err(StatsError::Singular);
    }

    // Indices below stay inside the k × k matrices and below n (k ≤ n − 2, checked above).
    // Householder QR: after step j, column j holds R's row j above the diagonal, `qty` holds Q'y.
    let mut work = centred.clone();
    let mut qty = yc.clone();
    let mut r = vec![vec![0.0; k]; k];
    for j in 0..k {
        let (pivot, later) = work[j..].split_first_mut().ok_or(StatsError::Singular)?;
        let v = &mut pivot[j..];
        let norm = sum_sq(v).sqrt();
        if norm <= COLLINEAR_TOL * norms[j] {
            return Err(StatsError::Singular);
        }
        let alpha = if v[0] > 0.0 { -norm } else { norm };
        v[0] -= alpha;
        let scale = 2.0 / sum_sq(v);
        for other in later.iter_mut().map(|c| &mut c[j..]).chain(std::iter::once(&mut qty[j..])) {
            let s = scale * v.iter().zip(other.iter()).map(|(a, b)| a * b).sum::<f64>();
            other.iter_mut().zip(v.iter()).for_each(|(o, vi)| *o -= s * vi);
        }
        r[j][j] = alpha;
        for (l, c) in later.iter().enumerate() {
            r[j][j + 1 + l] = c[j];
        }
    }
    // Back substitution for the slopes, and R⁻¹ (column by column) for their covariance.
    let mut beta = vec![0.0; k];
    for j in (0..k).rev() {
        let s: f64 = (j + 1..k).map(|l| r[j][l] * beta[l]).sum();
        beta[j] = (qty[j] - s) / r[j][j];
    }
    let r_inv_cols: Vec<Vec<f64>> = (0..k)
        .map(|l| {
            let mut z = vec![0.0; k];
            for i in (0..=l).rev() {
                let s: f64 = (i + 1..=l).map(|m| r[i][m] * z[m]).sum();
                z[i] = (f64::from(u8::from(i == l)) - s) / r[i][i];
            }
            z
        })
        .collect();

    let mut residuals = yc;
    for (col, b) in centred.iter().zip(&beta) {
        residuals.iter_mut().zip(col).for_each(|(e, x)| *e -= b * x);
    }
    let sse = sum_sq(&residuals);
    let df = (n - k - 1) as f64;
    let sigma = (sse / df).sqrt();
    // (X'X)⁻¹ = R⁻¹R⁻ᵀ: its diagonal is the squared row norms of R⁻¹; x̄'(X'X)⁻¹x̄ = |R⁻ᵀx̄|².
    let mut variances = vec![0.0; k];
    for col in &r_inv_cols {
        variances.iter_mut().zip(col).for_each(|(v, z)| *v += z * z);
    }
    let coefficients = beta.iter().zip(&variances).map(|(b, v)| Estimate::new(*b, sigma * v.sqrt(), df)).collect();
    let quad: f64 =
        r_inv_cols.iter().map(|col| predictor_means.iter().zip(col).map(|(m, z)| m * z).sum::<f64>().powi(2)).sum();
    let intercept_value = mean_y - predictor_means.iter().zip(&beta).map(|(m, b)| m * b).sum::<f64>();
    let intercept = Estimate::new(intercept_value, sigma * (1.0 / n as f64 + quad).sqrt(), df);
    let r_squared = (1.0 - sse / sst).clamp(0.0, 1.0);
    let sd_y = sst.sqrt();
    Ok(Ols {
        intercept,
        coefficients,
        r_squared,
        adjusted_r_squared: 1.0 - (1.0 - r_squared) * (n - 1) as f64 / df,
        residual_std_error: sigma,
        n,
        standardized: beta.iter().zip(&norms).map(|(b, sx)| b * sx / sd_y).collect(),
        predictor_means,
    })
}

/// Whether a stepwise step added or dropped a predictor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepAction {
    Entered,
    Removed,
}

/// One step of a stepwise selection, with the p-value that justified it.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub action: StepAction,
    pub predictor: usize,
    pub p_value: f64,
}

/// The outcome of a stepwise selection.
#[derive(Debug, Clone, PartialEq)]
pub struct Stepwise {
    /// Indices into the original predictor columns, in the order of `model.coefficients`.
    pub selected: Vec<usize>,
    pub model: Ols,
    pub steps: Vec<Step>,
}

fn pick(rows: &[Vec<f64>], columns: &[usize]) -> Vec<Vec<f64>> {
    rows.iter().map(|r| columns.iter().filter_map(|&c| r.get(c).copied()).collect()).collect()
}

/// Bidirectional stepwise selection (the SPSS "stepwise" method): at each step enter the candidate
/// with the smallest p-value if it is below `p_enter`, then remove any selected predictor whose
/// p-value exceeds `p_remove` (`p_remove ≥ p_enter`, else [`StatsError::OutOfRange`]). Candidates
/// that would make the design singular or leave no residual degree of freedom are skipped; a step
/// limit guards against cycling. With no predictor entering, the model is intercept-only
/// (`selected` empty; `r_squared` 0).
pub fn stepwise(rows: &[Vec<f64>], y: &[f64], p_enter: f64, p_remove: f64) -> Result<Stepwise, StatsError> {
    let k = check_design(rows, y)?;
    need(2, y.len())?;
    if !p_enter.is_finite() || !p_remove.is_finite() {
        return Err(StatsError::NotFinite);
    }
    if !(0.0..=1.0).contains(&p_enter) {
        return Err(StatsError::OutOfRange { what: "p_enter" });
    }
    if !(p_enter..=1.0).contains(&p_remove) {
        return Err(StatsError::OutOfRange { what: "p_remove" });
    }
    let fit = |columns: &[usize]| ols(&pick(rows, columns), y);
    let mut selected: Vec<usize> = Vec::new();
    let mut steps = Vec::new();
    let limit = 4 * k + 4;
    while steps.len() < limit {
        let mut best: Option<(usize, f64)> = None;
        for candidate in (0..k).filter(|c| !selected.contains(c)) {
            let mut trial = selected.clone();
            trial.push(candidate);
            match fit(&trial) {
                Ok(model) => {
                    let p = model.coefficients.last().map_or(1.0, |e| e.p_value);
                    if best.is_none_or(|(_, best_p)| p < best_p) {
                        best = Some((candidate, p));
                    }
                }
                Err(StatsError::Singular | StatsError::TooFewObservations { .. }) => {}
                Err(other) => return Err(other),
            }
        }
        let Some((predictor, p_value)) = best.filter(|&(_, p)| p < p_enter) else { break };
        selected.push(predictor);
        steps.push(Step { action: StepAction::Entered, predictor, p_value });
        while steps.len() < limit {
            let model = fit(&selected)?;
            let worst = model.coefficients.iter().zip(&selected).max_by(|a, b| a.0.p_value.total_cmp(&b.0.p_value));
            let Some((estimate, &predictor)) = worst.filter(|(e, _)| e.p_value > p_remove) else { break };
            selected.retain(|&s| s != predictor);
            steps.push(Step { action: StepAction::Removed, predictor, p_value: estimate.p_value });
        }
    }
    let model = fit(&selected)?;
    Ok(Stepwise { selected, model, steps })
}

/// Pearson correlation with its two-sided p-value.
#[derive(Debug, Clone, PartialEq)]
pub struct Correlation {
    pub r: f64,
    pub p_value: f64,
    pub n: usize,
}

/// Centred sums of squares and products: (x̄, ȳ, Sxx, Syy, Sxy); Singular if either is constant.
fn centred_sums(x: &[f64], y: &[f64]) -> Result<(f64, f64, f64, f64, f64), StatsError> {
    let (mx, xc) = centre(x);
    let (my, yc) = centre(y);
    if is_constant(x, &xc) || is_constant(y, &yc) {
        return Err(StatsError::Singular);
    }
    let sxy = xc.iter().zip(&yc).map(|(a, b)| a * b).sum();
    Ok((mx, my, sum_sq(&xc), sum_sq(&yc), sxy))
}

/// Pearson r; p from t = r·√((n−2)/(1−r²)) with n − 2 df. Needs n ≥ 3 and variance in both.
pub fn pearson(x: &[f64], y: &[f64]) -> Result<Correlation, StatsError> {
    paired(x, y, 3)?;
    let (_, _, sxx, syy, sxy) = centred_sums(x, y)?;
    let r = (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0);
    let df = (x.len() - 2) as f64;
    let p_value = if r.abs() >= 1.0 { 0.0 } else { student_t_two_sided_p(r * (df / (1.0 - r * r)).sqrt(), df) };
    Ok(Correlation { r, p_value, n: x.len() })
}

/// A straight-line fit y = intercept + slope·x.
#[derive(Debug, Clone, PartialEq)]
pub struct SimpleRegression {
    pub slope: f64,
    pub intercept: f64,
    pub slope_std_error: f64,
    /// Lower end of the 95 % confidence interval of the slope.
    pub slope_low: f64,
    /// Upper end of the 95 % confidence interval of the slope.
    pub slope_high: f64,
    pub r_squared: f64,
    /// Two-sided p-value of slope = 0.
    pub p_value: f64,
    pub n: usize,
}

/// Least-squares line of y on x, with the slope's 95 % interval from t(n − 2). Needs n ≥ 3 and
/// variance in both x and y (a constant y carries no linkage to measure).
pub fn simple_regression(x: &[f64], y: &[f64]) -> Result<SimpleRegression, StatsError> {
    paired(x, y, 3)?;
    let (mx, my, sxx, syy, sxy) = centred_sums(x, y)?;
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let sse: f64 = x.iter().zip(y).map(|(a, b)| (b - intercept - slope * a).powi(2)).sum();
    let df = (x.len() - 2) as f64;
    let estimate = Estimate::new(slope, (sse / df / sxx).sqrt(), df);
    let half_width = student_t_quantile(0.975, df) * estimate.std_error;
    Ok(SimpleRegression {
        slope,
        intercept,
        slope_std_error: estimate.std_error,
        slope_low: slope - half_width,
        slope_high: slope + half_width,
        r_squared: (sxy * sxy / (sxx * syy)).clamp(0.0, 1.0),
        p_value: estimate.p_value,
        n: x.len(),
    })
}

/// A test statistic and its two-sided p-value. Statistics are signed "after minus before".
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    pub statistic: f64,
    pub p_value: f64,
}

/// Welch's two-sided t test of equal means (no equal-variance assumption; Welch–Satterthwaite
/// df). Statistic is (mean(after) − mean(before)) / se. Each side needs ≥ 2 values, and at least
/// one side must vary.
pub fn welch_t_test(before: &[f64], after: &[f64]) -> Result<TestResult, StatsError> {
    check_finite(before)?;
    check_finite(after)?;
    need(2, before.len().min(after.len()))?;
    let side = |v: &[f64]| {
        let (m, c) = centre(v);
        let n = v.len() as f64;
        (m, sum_sq(&c) / (n - 1.0) / n, n)
    };
    let (m1, v1, n1) = side(before);
    let (m2, v2, n2) = side(after);
    let se2 = v1 + v2;
    if se2 <= 0.0 {
        return Err(StatsError::Singular);
    }
    let df = se2 * se2 / (v1 * v1 / (n1 - 1.0) + v2 * v2 / (n2 - 1.0));
    let t = (m2 - m1) / se2.sqrt();
    Ok(TestResult { statistic: t, p_value: student_t_two_sided_p(t, df) })
}

/// Two-sided z test of equal proportions with the pooled variance (as statsmodels'
/// `proportions_ztest`). Identical all-or-nothing outcomes (pooled rate 0 or 1) show no
/// difference: z = 0, p = 1.
pub fn two_proportion_z_test(
    successes_before: u64,
    trials_before: u64,
    successes_after: u64,
    trials_after: u64,
) -> Result<TestResult, StatsError> {
    need(1, usize::try_from(trials_before.min(trials_after)).unwrap_or(usize::MAX))?;
    if successes_before > trials_before || successes_after > trials_after {
        return Err(StatsError::OutOfRange { what: "successes (more than trials)" });
    }
    let (s1, n1, s2, n2) = (successes_before as f64, trials_before as f64, successes_after as f64, trials_after as f64);
    let pooled = (s1 + s2) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if se <= 0.0 {
        return Ok(TestResult { statistic: 0.0, p_value: 1.0 });
    }
    let z = (s2 / n2 - s1 / n1) / se;
    Ok(TestResult { statistic: z, p_value: normal_two_sided_p(z) })
}

/// Two-sided test of equal event rates (count / exposure), by the conditional-binomial normal
/// approximation: given the total `C`, the after count is `Binomial(C, E_a / (E_b + E_a))` under
/// equal rates, so `z = (c_a·E_b − c_b·E_a) / √(C·E_a·E_b)` (the score test; statsmodels
/// `test_poisson_2indep(method="score")`). Unlike the log rate ratio it stays finite when one side
/// has no events; with no events at all there is no difference to test: z = 0, p = 1.
pub fn poisson_rate_test(
    count_before: u64,
    exposure_before: f64,
    count_after: u64,
    exposure_after: f64,
) -> Result<TestResult, StatsError> {
    check_finite(&[exposure_before, exposure_after])?;
    if exposure_before <= 0.0 || exposure_after <= 0.0 {
        return Err(StatsError::OutOfRange { what: "exposure" });
    }
    let (cb, ca) = (count_before as f64, count_after as f64);
    let total = cb + ca;
    if total <= 0.0 {
        return Ok(TestResult { statistic: 0.0, p_value: 1.0 });
    }
    // Exposure shares from the ratio, so neither huge exposures nor lopsided ones overflow or cancel.
    let ratio = exposure_before / exposure_after;
    let (share_before, share_after) = (ratio / (1.0 + ratio), 1.0 / (1.0 + ratio));
    let z = (ca * share_before - cb * share_after) / (total * share_before * share_after).sqrt();
    if !z.is_finite() {
        // Only exposure ratios beyond ~1e308 get here.
        return Err(StatsError::OutOfRange { what: "exposure" });
    }
    Ok(TestResult { statistic: z, p_value: normal_two_sided_p(z) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values come from scipy 1.17.1 / statsmodels 0.15.0 (see each test).
    fn close(actual: f64, expected: f64, tol: f64) {
        assert!((actual - expected).abs() <= tol, "{actual} differs from {expected} by more than {tol}");
    }

    /// xorshift64* with Box–Muller, so the simulated data are the same on every platform.
    struct Rng(u64);

    impl Rng {
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1_u64 << 53) as f64
        }

        fn normal(&mut self) -> f64 {
            let (u1, u2) = (1.0 - self.uniform(), self.uniform());
            (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
        }
    }

    /// y = 10 + 0.5 x1 + 0.3 x2 + 0 x3 + N(0, 2²), x1, x3 ~ U(0, 100), x2 ~ N(50, 15²).
    fn simulated(n: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        (0..n)
            .map(|_| {
                let row = vec![100.0 * rng.uniform(), 50.0 + 15.0 * rng.normal(), 100.0 * rng.uniform()];
                let y = 10.0 + 0.5 * row[0] + 0.3 * row[1] + 2.0 * rng.normal();
                (row, y)
            })
            .unzip()
    }

    const X1: [f64; 15] = [78.1, 90.4, 84.9, 60.1, 63.5, 89.3, 50.2, 87.0, 85.9, 71.1, 63.6, 62.5, 61.5, 70.0, 72.7];
    const X2: [f64; 15] = [67.7, 89.8, 79.6, 71.1, 89.4, 50.8, 48.0, 70.6, 42.2, 41.8, 65.7, 63.3, 85.9, 71.5, 65.7];
    const X3: [f64; 15] = [79.9, 69.9, 60.5, 67.7, 87.7, 68.0, 74.8, 60.1, 93.2, 66.2, 70.7, 95.2, 80.4, 93.9, 85.6];
    const Y: [f64; 15] = [74.2, 71.4, 76.3, 62.1, 65.1, 77.3, 56.5, 67.1, 67.8, 62.4, 61.4, 65.2, 65.5, 69.7, 72.3];

    fn small_rows() -> Vec<Vec<f64>> {
        X1.iter().zip(&X2).zip(&X3).map(|((a, b), c)| vec![*a, *b, *c]).collect()
    }

    #[test]
    fn distributions_match_scipy() {
        close(normal_cdf(1.96), 0.975_002_104_851_779_5, 1e-12);
        close(normal_cdf(-1.0), 0.158_655_253_931_457_07, 1e-12);
        close(normal_cdf(0.5), 0.691_462_461_274_013_1, 1e-12);
        close(normal_cdf(-5.0) / 2.866_515_718_791_933e-7, 1.0, 1e-10);
        close(student_t_quantile(0.975, 10.0), 2.228_138_851_986_274, 1e-9);
        close(student_t_quantile(0.995, 2.5), 7.163_728_138_948_783, 1e-8);
        close(student_t_quantile(0.05, 30.0), -1.697_260_886_593_957_4, 1e-9);
        close(student_t_quantile(0.975, 1000.0), 1.962_339_080_826_408_3, 1e-9);
        close(student_t_two_sided_p(2.0, 5.0), 0.101_939_478_829_858_35, 1e-12);
        close(student_t_two_sided_p(8.0, 12.0) / 3.759_898_224_750_258e-6, 1.0, 1e-9);
        close(student_t_cdf(-1.5, 3.5), 0.108_909_093_507_672_51, 1e-12);
        close(student_t_cdf(1.0, 1.0), 0.75, 1e-12);
        close(student_t_cdf(0.3, 200.0), 0.617_755_634_905_336, 1e-11);
        close(student_t_cdf(0.0, 7.0), 0.5, 1e-15);
        close(student_t_two_sided_p(1.96, f64::INFINITY), 2.0 * (1.0 - normal_cdf(1.96)), 1e-12);
        assert!(student_t_cdf(f64::NAN, 3.0).is_nan() && student_t_quantile(0.5, -1.0).is_nan());
        assert_eq!(student_t_quantile(1.0, 3.0), f64::INFINITY);
    }

    #[test]
    fn mean_and_variance() {
        assert_eq!(mean(&[]), None);
        assert_eq!(mean(&[1.0, f64::NAN]), None);
        close(mean(&[1.0, 2.0, 6.0]).unwrap(), 3.0, 1e-15);
        assert_eq!(sample_variance(&[4.0]), None);
        close(sample_variance(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap(), 32.0 / 7.0, 1e-13);
    }

    #[test]
    fn ols_matches_statsmodels() {
        // statsmodels OLS(Y, add_constant([X1, X2, X3])).fit()
        let fit = ols(&small_rows(), &Y).unwrap();
        let all: Vec<&Estimate> = std::iter::once(&fit.intercept).chain(&fit.coefficients).collect();
        let params =
            [26.697_415_125_990_446, 0.391_712_594_696_059_8, 0.077_601_394_247_459_54, 0.094_224_923_076_836_94];
        let bse = [11.198_250_086_340_68, 0.083_159_851_229_317_64, 0.063_581_535_553_121_7, 0.087_075_469_544_759_2];
        let t = [2.384_070_271_707_472, 4.710_357_088_252_741, 1.220_502_046_268_203_2, 1.082_106_402_290_518];
        let p =
            [0.036_239_397_986_144_936, 0.000_639_336_275_832_734_2, 0.247_792_774_758_403, 0.302_356_542_888_075_1];
        for (i, e) in all.iter().enumerate() {
            close(e.estimate, params[i], 1e-9 * params[i].abs());
            close(e.std_error, bse[i], 1e-9 * bse[i]);
            close(e.t, t[i], 1e-8);
            close(e.p_value, p[i], 1e-10);
        }
        close(fit.r_squared, 0.684_737_736_722_259_3, 1e-12);
        close(fit.adjusted_r_squared, 0.598_757_119_464_693_7, 1e-12);
        close(fit.residual_std_error, 3.747_175_288_547_164_8, 1e-10);
        for (s, e) in
            fit.standardized.iter().zip([0.833_338_936_995_358_3, 0.206_774_395_180_445_1, 0.191_542_452_620_959_26])
        {
            close(*s, e, 1e-10);
        }
        close(fit.predictor_means[0], X1.iter().sum::<f64>() / 15.0, 1e-12);
        assert_eq!(fit.n, 15);

        let only_mean = ols(&vec![Vec::new(); 15], &Y).unwrap();
        close(only_mean.intercept.estimate, Y.iter().sum::<f64>() / 15.0, 1e-12);
        close(only_mean.intercept.std_error, (sample_variance(&Y).unwrap() / 15.0).sqrt(), 1e-12);
        assert_eq!((only_mean.r_squared, only_mean.adjusted_r_squared), (0.0, 0.0));
    }

    #[test]
    fn recovers_known_coefficients_and_selects_true_drivers() {
        let (rows, y) = simulated(400);
        let fit = ols(&rows, &y).unwrap();
        close(fit.intercept.estimate, 10.0, 3.0 * fit.intercept.std_error);
        for (e, truth) in fit.coefficients.iter().zip([0.5, 0.3, 0.0]) {
            close(e.estimate, truth, 3.0 * e.std_error);
        }
        close(fit.residual_std_error, 2.0, 0.2);
        // The same generator in Python, fitted by statsmodels OLS.
        close(fit.intercept.estimate, 9.772_983_512_476_193, 1e-10);
        close(fit.intercept.p_value / 1.400_841_292_431_284e-74, 1.0, 1e-8);
        close(fit.coefficients[1].std_error, 0.006_694_805_287_093_933_5, 1e-13);
        close(fit.coefficients[2].p_value, 0.986_307_439_786_006_8, 1e-10);
        close(fit.r_squared, 0.984_254_913_033_869_6, 1e-12);

        let chosen = stepwise(&rows, &y, 0.05, 0.10).unwrap();
        assert_eq!(chosen.selected, vec![0, 1]);
        assert_eq!(chosen.steps.len(), 2);
        assert!(chosen.steps.iter().all(|s| s.action == StepAction::Entered && s.p_value < 0.05));
        assert_eq!(chosen.model.coefficients.len(), 2);
        close(chosen.model.coefficients[1].estimate, 0.3, 3.0 * chosen.model.coefficients[1].std_error);

        let none = stepwise(&rows, &y, 0.0, 0.0).unwrap();
        assert!(none.selected.is_empty() && none.steps.is_empty());
        assert_eq!(none.model.r_squared, 0.0);
    }

    #[test]
    fn singular_designs() {
        let (rows, y) = simulated(200);
        let doubled: Vec<Vec<f64>> = rows.iter().map(|r| vec![r[0], r[0], r[1], r[2]]).collect();
        assert_eq!(ols(&doubled, &y), Err(StatsError::Singular));
        let constant: Vec<Vec<f64>> = rows.iter().map(|r| vec![r[0], 0.1]).collect();
        assert_eq!(ols(&constant, &y), Err(StatsError::Singular));
        assert_eq!(ols(&rows, &vec![3.3; 200]), Err(StatsError::Singular));

        let chosen = stepwise(&doubled, &y, 0.05, 0.10).unwrap();
        assert_eq!(chosen.selected, vec![0, 2]);
        let collinear: Vec<Vec<f64>> = rows.iter().map(|r| vec![r[0], r[1], r[0] - 2.0 * r[1]]).collect();
        let chosen = stepwise(&collinear, &y, 0.05, 0.10).unwrap();
        assert_eq!(chosen.selected.len(), 2);
    }

    #[test]
    fn stepwise_on_small_data() {
        // x1 enters (p = 0.000578, the Pearson p of x1); neither x2 nor x3 reaches 0.05 beside it.
        let chosen = stepwise(&small_rows(), &Y, 0.05, 0.10).unwrap();
        assert_eq!(chosen.selected, vec![0]);
        close(chosen.steps[0].p_value, 0.000_577_867_626_653_081, 1e-11);
        assert_eq!(stepwise(&small_rows(), &Y, 0.10, 0.05), Err(StatsError::OutOfRange { what: "p_remove" }));
    }

    #[test]
    fn correlation_and_slope_match_scipy() {
        // scipy.stats.pearsonr, scipy.stats.linregress and t.ppf(0.975, 13)
        let c = pearson(&X1, &Y).unwrap();
        close(c.r, 0.781_620_014_721_857, 1e-12);
        close(c.p_value, 0.000_577_867_626_653_081, 1e-12);
        let c = pearson(&X3, &Y).unwrap();
        close(c.r, -0.058_082_508_666_446_93, 1e-12);
        close(c.p_value, 0.837_096_155_170_561_8, 1e-11);
        assert_eq!(pearson(&X1, &[5.0; 15]), Err(StatsError::Singular));

        let s = simple_regression(&X1, &Y).unwrap();
        close(s.slope, 0.367_402_014_283_626_9, 1e-12);
        close(s.intercept, 40.902_525_521_294_64, 1e-10);
        close(s.slope_std_error, 0.081_318_272_263_389_35, 1e-12);
        close(s.slope_low, 0.191_724_567_688_092_98, 1e-9);
        close(s.slope_high, 0.543_079_460_879_160_8, 1e-9);
        close(s.r_squared, 0.610_929_847_413_795_9, 1e-12);
        close(s.p_value, 0.000_577_867_626_653_083_5, 1e-12);

        let mut rng = Rng(42);
        let x: Vec<f64> = (0..60).map(|_| 100.0 * rng.uniform()).collect();
        let y: Vec<f64> = x.iter().map(|v| 3.0 + 2.0 * v + 5.0 * rng.normal()).collect();
        let s = simple_regression(&x, &y).unwrap();
        assert!(s.slope_low < 2.0 && 2.0 < s.slope_high, "{s:?}");
    }

    #[test]
    fn before_after_tests_match_references() {
        // scipy.stats.ttest_ind(after, before, equal_var=False)
        let before = [7.1, 6.8, 7.4, 6.2, 7.9, 6.5, 7.0, 6.9, 7.3, 6.1];
        let after = [7.6, 8.1, 7.2, 8.4, 7.9, 8.8, 7.5, 8.0];
        let w = welch_t_test(&before, &after).unwrap();
        close(w.statistic, 4.039_192_025_581_49, 1e-11);
        close(w.p_value, 0.000_996_157_432_386_168_7, 1e-12);
        assert_eq!(welch_t_test(&[1.0, 1.0], &[2.0, 2.0]), Err(StatsError::Singular));

        // statsmodels proportions_ztest([after, before], [n_after, n_before])
        let z = two_proportion_z_test(412, 560, 468, 600).unwrap();
        close(z.statistic, 1.761_334_879_171_552_4, 1e-11);
        close(z.p_value, 0.078_181_739_907_309_9, 1e-11);
        let z = two_proportion_z_test(45, 210, 30, 200).unwrap();
        close(z.statistic, -1.682_976_346_138_920_4, 1e-11);
        close(z.p_value, 0.092_379_670_559_945_94, 1e-11);
        assert_eq!(two_proportion_z_test(10, 10, 20, 20).unwrap(), TestResult { statistic: 0.0, p_value: 1.0 });
        assert!(matches!(two_proportion_z_test(11, 10, 1, 2), Err(StatsError::OutOfRange { .. })));

        // statsmodels test_poisson_2indep(after, exposure, before, exposure, method="score")
        let p = poisson_rate_test(80, 31.0, 52, 30.0).unwrap();
        close(p.statistic, -2.249_043_096_906_601, 1e-11);
        close(p.p_value, 0.024_509_754_281_203_12, 1e-11);
        let p = poisson_rate_test(7, 12.0, 0, 10.0).unwrap();
        close(p.statistic, -2.415_229_457_698_24, 1e-11);
        close(p.p_value, 0.015_725_299_754_505_342, 1e-11);
        assert_eq!(poisson_rate_test(0, 1.0, 0, 2.0).unwrap().p_value, 1.0);
        assert!(poisson_rate_test(5, 1e-150, 0, 1e150).unwrap().p_value.is_finite());
        assert!(matches!(poisson_rate_test(5, 1e-300, 0, 1e300), Err(StatsError::OutOfRange { .. })));
        assert!(matches!(poisson_rate_test(3, 0.0, 1, 2.0), Err(StatsError::OutOfRange { .. })));
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(ols(&small_rows()[..4], &Y[..4]), Err(StatsError::TooFewObservations { needed: 5, got: 4 }));
        let e = pearson(&[1.0, 2.0], &[3.0, 4.0]).unwrap_err();
        assert_eq!(e, StatsError::TooFewObservations { needed: 3, got: 2 });
        assert_eq!(e.to_string(), "at least 3 observations are needed, 2 given");
        assert_eq!(welch_t_test(&[1.0], &[1.0, 2.0]), Err(StatsError::TooFewObservations { needed: 2, got: 1 }));
        assert_eq!(two_proportion_z_test(0, 0, 1, 2), Err(StatsError::TooFewObservations { needed: 1, got: 0 }));
        assert_eq!(ols(&[vec![1.0], vec![2.0, 3.0]], &[1.0, 2.0]), Err(StatsError::Mismatch));
        assert_eq!(simple_regression(&X1, &Y[..14]), Err(StatsError::Mismatch));
        assert_eq!(pearson(&[1.0, f64::NAN, 3.0], &[1.0, 2.0, 3.0]), Err(StatsError::NotFinite));
        assert_eq!(poisson_rate_test(1, f64::INFINITY, 1, 1.0), Err(StatsError::NotFinite));
        assert_eq!(stepwise(&small_rows(), &Y, f64::NAN, 0.1), Err(StatsError::NotFinite));
    }
}
