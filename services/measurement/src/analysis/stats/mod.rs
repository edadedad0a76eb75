//! Statistics behind the analyses: driver analysis (stepwise regression of overall satisfaction on
//! process scores), 3K linkage (correlation, slope with confidence interval) and effect evaluation
//! (before/after significance tests).
//!
//! Standard library only, so the numbers can be checked in isolation; every routine validates its
//! input and returns a [`StatsError`] instead of panicking, because requests reach it directly.
//!
//! The input checks and centring every routine shares are here; the distributions (normal,
//! Student t) in `distributions`, least squares and stepwise selection in `regression`, Pearson
//! correlation and the straight-line fit in `correlation`, the before/after tests in
//! `significance`.

mod correlation;
mod distributions;
mod regression;
mod significance;

#[cfg(test)]
mod tests;

use std::fmt;

pub use correlation::{pearson, simple_regression};
pub use regression::{StepAction, stepwise};
pub use significance::{poisson_rate_test, two_proportion_z_test, welch_t_test};

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
#[cfg(test)] // Checked against published values; the analyses use the functions built on it.
pub fn sample_variance(values: &[f64]) -> Option<f64> {
    (values.len() >= 2 && check_finite(values).is_ok()).then(|| sum_sq(&centre(values).1) / (values.len() - 1) as f64)
}
