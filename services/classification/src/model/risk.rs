//! Predicted dissatisfaction (潜在不满客户模型): L2-regularised logistic regression over numeric
//! features (standardised; a missing value counts as the mean) and categorical ones (one column per
//! level seen often enough; an unseen level adds nothing), fitted by Newton's method. Each score
//! is explained by the features that pushed it up most.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::metrics;

/// One customer's features, as intake's events describe them or as an operator exports them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Features {
    pub numeric: BTreeMap<String, f64>,
    pub categorical: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RiskSettings {
    /// L2 penalty on the (standardised) weights.
    pub l2: f64,
    /// A level needs this many examples to get its own column.
    pub min_level_count: usize,
}

impl Default for RiskSettings {
    fn default() -> Self {
        Self { l2: 1.0, min_level_count: 5 }
    }
}

/// A fitted model, serialised whole into the model store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskModel {
    /// Numeric features with their mean and standard deviation in training.
    numeric: Vec<(String, f64, f64)>,
    /// Categorical columns: feature and level.
    levels: Vec<(String, String)>,
    /// One weight per numeric feature, then per level, then the intercept.
    weights: Vec<f64>,
}

/// What pushed a score up or down: the feature, its value in words, and its contribution to the
/// log-odds.
#[derive(Debug, Clone, PartialEq)]
pub struct Factor {
    pub feature: String,
    pub value: String,
    pub contribution: f64,
}

impl RiskModel {
    /// Fits on `(features, dissatisfied)` examples.
    pub fn train(examples: &[(Features, bool)], settings: RiskSettings) -> Self {
        let numeric = numeric_columns(examples);
        let levels = level_columns(examples, settings.min_level_count);
        let mut model = Self { numeric, levels, weights: Vec::new() };
        let dimension = model.numeric.len() + model.levels.len() + 1;
        model.weights = vec![0.0; dimension];
        let rows: Vec<Vec<(usize, f64)>> = examples.iter().map(|(f, _)| model.encode(f)).collect();
        let labels: Vec<f64> = examples.iter().map(|(_, y)| f64::from(u8::from(*y))).collect();
        newton(&rows, &labels, &mut model.weights, settings.l2);
        model
    }

    /// Probability of dissatisfaction.
    pub fn score(&self, features: &Features) -> f64 {
        sigmoid(dot(&self.weights, &self.encode(features)))
    }

    /// How well the model does on labelled customers, flagging at `threshold`.
    pub fn evaluate(&self, examples: &[(Features, bool)], threshold: f64) -> metrics::Risk {
        let scored: Vec<(bool, f64)> = examples.iter().map(|(f, y)| (*y, self.score(f))).collect();
        metrics::risk(&scored, threshold)
    }

    /// The factors that raise this customer's risk most, largest first.
    pub fn explain(&self, features: &Features, top: usize) -> Vec<Factor> {
        let mut factors: Vec<Factor> = Vec::new();
        for (column, (name, mean, std)) in self.numeric.iter().enumerate() {
            if let Some(&value) = features.numeric.get(name).filter(|v| v.is_finite()) {
                let contribution = self.weights[column] * (value - mean) / std;
                factors.push(Factor { feature: name.clone(), value: format_number(value), contribution });
            }
        }
        for (offset, (name, level)) in self.levels.iter().enumerate() {
            if features.categorical.get(name) == Some(level) {
                let contribution = self.weights[self.numeric.len() + offset];
                factors.push(Factor { feature: name.clone(), value: level.clone(), contribution });
            }
        }
        factors.retain(|f| f.contribution > 0.0);
        factors.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
        factors.truncate(top);
        factors
    }

    pub fn feature_names(&self) -> impl Iterator<Item = &str> {
        self.numeric.iter().map(|(n, _, _)| n.as_str()).chain(self.levels.iter().map(|(n, _)| n.as_str()))
    }

    fn encode(&self, features: &Features) -> Vec<(usize, f64)> {
        let mut row: Vec<(usize, f64)> = self
            .numeric
            .iter()
            .enumerate()
            .filter_map(|(column, (name, mean, std))| {
                let value = *features.numeric.get(name).filter(|v| v.is_finite())?;
                Some((column, (value - mean) / std))
            })
            .collect();
        for (offset, (name, level)) in self.levels.iter().enumerate() {
            if features.categorical.get(name) == Some(level) {
                row.push((self.numeric.len() + offset, 1.0));
            }
        }
        row.push((self.numeric.len() + self.levels.len(), 1.0));
        row
    }
}

fn numeric_columns(examples: &[(Features, bool)]) -> Vec<(String, f64, f64)> {
    let mut sums: BTreeMap<&str, (f64, f64, f64)> = BTreeMap::new();
    for (features, _) in examples {
        for (name, &value) in features.numeric.iter().filter(|(_, v)| v.is_finite()) {
            let entry = sums.entry(name).or_default();
            entry.0 += 1.0;
            entry.1 += value;
            entry.2 += value * value;
        }
    }
    sums.into_iter()
        .map(|(name, (n, sum, squares))| {
            let mean = sum / n;
            let variance = (squares / n - mean * mean).max(0.0);
            let std = if variance > 1e-12 { variance.sqrt() } else { 1.0 };
            (name.to_string(), mean, std)
        })
        .collect()
}

fn level_columns(examples: &[(Features, bool)], min_count: usize) -> Vec<(String, String)> {
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (features, _) in examples {
        for (name, level) in &features.categorical {
            *counts.entry((name, level)).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .filter(|&(_, n)| n >= min_count.max(1))
        .map(|((name, level), _)| (name.to_string(), level.to_string()))
        .collect()
}

/// Newton's method with a halving line search on the penalised log-loss; the intercept (the
/// last weight) is not penalised.
fn newton(rows: &[Vec<(usize, f64)>], labels: &[f64], weights: &mut [f64], l2: f64) {
    let d = weights.len();
    let loss = |w: &[f64]| -> f64 {
        let data: f64 = rows
            .iter()
            .zip(labels)
            .map(|(row, &y)| {
                let z = dot(w, row);
                // log(1 + e^z) - y z, computed stably.
                z.max(0.0) + (-z.abs()).exp().ln_1p() - y * z
            })
            .sum();
        data + 0.5 * l2 * w[..d - 1].iter().map(|v| v * v).sum::<f64>()
    };
    let mut current = loss(weights);
    for _ in 0..30 {
        let mut gradient = vec![0.0; d];
        let mut hessian = vec![0.0; d * d];
        for (row, &y) in rows.iter().zip(labels) {
            let p = sigmoid(dot(weights, row));
            let curvature = (p * (1.0 - p)).max(1e-10);
            for &(i, xi) in row {
                gradient[i] += (p - y) * xi;
                for &(j, xj) in row {
                    hessian[i * d + j] += curvature * xi * xj;
                }
            }
        }
        for i in 0..d - 1 {
            gradient[i] += l2 * weights[i];
            hessian[i * d + i] += l2;
        }
        hessian[d * d - 1] += 1e-9;
        let Some(step) = cholesky_solve(&mut hessian, &gradient, d) else { break };
        let mut scale = 1.0;
        let mut improved = false;
        for _ in 0..20 {
            let candidate: Vec<f64> = weights.iter().zip(&step).map(|(w, s)| w - scale * s).collect();
            let value = loss(&candidate);
            if value <= current {
                weights.copy_from_slice(&candidate);
                improved = current - value > 1e-10 * current.abs().max(1.0);
                current = value;
                break;
            }
            scale /= 2.0;
        }
        if !improved || step.iter().map(|s| s.abs() * scale).fold(0.0, f64::max) < 1e-7 {
            break;
        }
    }
}

/// Solves `a x = b` for symmetric positive-definite `a` (overwritten by its Cholesky factor).
fn cholesky_solve(a: &mut [f64], b: &[f64], n: usize) -> Option<Vec<f64>> {
    for j in 0..n {
        let mut diagonal = a[j * n + j];
        for k in 0..j {
            diagonal -= a[j * n + k] * a[j * n + k];
        }
        if diagonal <= 0.0 || !diagonal.is_finite() {
            return None;
        }
        let diagonal = diagonal.sqrt();
        a[j * n + j] = diagonal;
        for i in j + 1..n {
            let mut value = a[i * n + j];
            for k in 0..j {
                value -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = value / diagonal;
        }
    }
    let mut y = b.to_vec();
    for i in 0..n {
        for k in 0..i {
            y[i] -= a[i * n + k] * y[k];
        }
        y[i] /= a[i * n + i];
    }
    for i in (0..n).rev() {
        for k in i + 1..n {
            y[i] -= a[k * n + i] * y[k];
        }
        y[i] /= a[i * n + i];
    }
    Some(y)
}

fn dot(weights: &[f64], row: &[(usize, f64)]) -> f64 {
    row.iter().map(|&(i, x)| weights[i] * x).sum()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e12 { format!("{value:.0}") } else { format!("{value:.2}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Customers with high drop rates on a poor-coverage estate are dissatisfied.
    fn population(n: usize, seed: u64) -> Vec<(Features, bool)> {
        let mut state = seed;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| {
                let drop_rate = next() * 5.0;
                let estate = if next() < 0.3 { "poor_coverage" } else { "good" };
                let speed = 50.0 + next() * 150.0;
                let z = -3.0 + 0.9 * drop_rate + if estate == "poor_coverage" { 1.0 } else { 0.0 };
                let dissatisfied = next() < sigmoid(z);
                let mut features = Features::default();
                features.numeric.insert("kqi.call_drop_rate".into(), drop_rate);
                features.numeric.insert("kqi.broadband_speed".into(), speed);
                features.categorical.insert("estate".into(), estate.into());
                (features, dissatisfied)
            })
            .collect()
    }

    #[test]
    fn ranks_and_calibrates_on_unseen_customers() {
        let model = RiskModel::train(&population(4000, 1), RiskSettings::default());
        let test = population(2000, 2);
        let figures = model.evaluate(&test, 0.5);
        assert!(figures.roc_auc > 0.8, "{figures:?}");
        assert!(figures.calibration_error < 0.05, "{figures:?}");
    }

    #[test]
    fn explains_the_factors_that_raise_risk() {
        let model = RiskModel::train(&population(4000, 3), RiskSettings::default());
        let mut customer = Features::default();
        customer.numeric.insert("kqi.call_drop_rate".into(), 4.8);
        customer.numeric.insert("kqi.broadband_speed".into(), 120.0);
        customer.categorical.insert("estate".into(), "poor_coverage".into());
        let factors = model.explain(&customer, 3);
        assert_eq!(factors[0].feature, "kqi.call_drop_rate");
        assert_eq!(factors[0].value, "4.80");
        assert!(factors.iter().any(|f| f.feature == "estate"));
        assert!(model.score(&customer) > 0.6);
    }
}
