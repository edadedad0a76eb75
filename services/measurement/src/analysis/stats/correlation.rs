//! 3K linkage: how one indicator moves with another, as Pearson correlation and as the
//! least-squares line with the slope's 95 % confidence interval.

use super::{
    StatsError, centre,
    distributions::{student_t_quantile, student_t_two_sided_p},
    is_constant, paired,
    regression::Estimate,
    sum_sq,
};

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
