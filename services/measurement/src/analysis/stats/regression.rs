//! Ordinary least squares with an intercept (Householder QR of the centred design) and the
//! bidirectional stepwise selection built on it: the driver analysis of overall satisfaction on
//! process scores.

use super::{StatsError, centre, check_finite, distributions::student_t_two_sided_p, is_constant, need, sum_sq};

/// Relative size of the part of a predictor not explained by the earlier ones below which the
/// design counts as collinear.
const COLLINEAR_TOL: f64 = 1e-9;

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
    pub(super) fn new(estimate: f64, std_error: f64, df: f64) -> Self {
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
