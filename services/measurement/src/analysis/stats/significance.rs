//! Effect evaluation: two-sided before/after tests of significance for means (Welch's t),
//! proportions (pooled z) and event rates (conditional-binomial score test). Statistics are signed
//! "after minus before".

use super::{
    StatsError, centre, check_finite,
    distributions::{normal_two_sided_p, student_t_two_sided_p},
    need, sum_sq,
};

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
