//! How well a model did on a held-out labelled set: for text models accuracy, macro-F1,
//! per-class precision and recall, the confusion matrix and calibration; for the risk model
//! ROC-AUC, log-loss, Brier score and a reliability table.

/// Per-class figures; support is the number of gold examples of the class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassFigures {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    pub examples: u64,
    pub accuracy: f64,
    /// Mean F1 over the classes present in the gold labels or the predictions.
    pub macro_f1: f64,
    pub classes: Vec<ClassFigures>,
    /// `confusion[gold][predicted]`.
    pub confusion: Vec<Vec<u64>>,
    /// Expected calibration error of the top confidence over ten equal-width bins.
    pub calibration_error: f64,
}

/// Scores `(gold, predicted, confidence)` triples over `classes` labels.
pub fn classification(classes: usize, outcomes: &[(usize, usize, f64)]) -> Classification {
    let mut confusion = vec![vec![0u64; classes]; classes];
    for &(gold, predicted, _) in outcomes {
        confusion[gold][predicted] += 1;
    }
    let total = outcomes.len() as u64;
    let correct: u64 = (0..classes).map(|c| confusion[c][c]).sum();
    let mut figures = Vec::with_capacity(classes);
    let mut f1_sum = 0.0;
    let mut present = 0usize;
    for c in 0..classes {
        let support: u64 = confusion[c].iter().sum();
        let predicted: u64 = confusion.iter().map(|row| row[c]).sum();
        let tp = confusion[c][c] as f64;
        let precision = ratio(tp, predicted as f64);
        let recall = ratio(tp, support as f64);
        let f1 = ratio(2.0 * precision * recall, precision + recall);
        if support > 0 || predicted > 0 {
            f1_sum += f1;
            present += 1;
        }
        figures.push(ClassFigures { precision, recall, f1, support });
    }
    let calibration = outcomes.iter().map(|&(gold, predicted, confidence)| (confidence, gold == predicted));
    Classification {
        examples: total,
        accuracy: ratio(correct as f64, total as f64),
        macro_f1: ratio(f1_sum, present as f64),
        classes: figures,
        confusion,
        calibration_error: reliability(calibration).1,
    }
}

/// One bin of a reliability table.
#[derive(Debug, Clone, PartialEq)]
pub struct Bin {
    pub lower: f64,
    pub upper: f64,
    pub mean_predicted: f64,
    pub observed: f64,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Risk {
    pub examples: u64,
    pub positives: u64,
    pub roc_auc: f64,
    pub log_loss: f64,
    pub brier: f64,
    pub calibration: Vec<Bin>,
    pub calibration_error: f64,
    /// At the model's threshold.
    pub precision: f64,
    pub recall: f64,
}

/// Scores `(dissatisfied, probability)` pairs, flagging at `threshold`.
pub fn risk(outcomes: &[(bool, f64)], threshold: f64) -> Risk {
    let n = outcomes.len() as f64;
    let positives = outcomes.iter().filter(|(y, _)| *y).count() as u64;
    let log_loss = outcomes
        .iter()
        .map(|&(y, p)| {
            let p = p.clamp(1e-12, 1.0 - 1e-12);
            -(if y { p.ln() } else { (1.0 - p).ln() })
        })
        .sum::<f64>();
    let brier = outcomes.iter().map(|&(y, p)| (p - f64::from(u8::from(y))).powi(2)).sum::<f64>();
    let flagged = outcomes.iter().filter(|(_, p)| *p >= threshold).count() as f64;
    let caught = outcomes.iter().filter(|(y, p)| *y && *p >= threshold).count() as f64;
    let (calibration, calibration_error) = reliability(outcomes.iter().map(|&(y, p)| (p, y)));
    Risk {
        examples: outcomes.len() as u64,
        positives,
        roc_auc: roc_auc(outcomes),
        log_loss: ratio(log_loss, n),
        brier: ratio(brier, n),
        calibration,
        calibration_error,
        precision: ratio(caught, flagged),
        recall: ratio(caught, positives as f64),
    }
}

/// The probability that a random positive scores above a random negative (ties count half),
/// from the ranks of the scores.
pub fn roc_auc(outcomes: &[(bool, f64)]) -> f64 {
    let mut sorted: Vec<(f64, bool)> = outcomes.iter().map(|&(y, p)| (p, y)).collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let positives = sorted.iter().filter(|(_, y)| *y).count() as f64;
    let negatives = sorted.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return 0.5;
    }
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len() && sorted[j].0 == sorted[i].0 {
            j += 1;
        }
        let average_rank = (i + j + 1) as f64 / 2.0;
        rank_sum += sorted[i..j].iter().filter(|(_, y)| *y).count() as f64 * average_rank;
        i = j;
    }
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

/// Ten equal-width bins of predicted probability against the observed rate, and the expected
/// calibration error (the count-weighted mean gap).
fn reliability(outcomes: impl Iterator<Item = (f64, bool)>) -> (Vec<Bin>, f64) {
    let mut sums = [(0.0f64, 0u64, 0u64); 10];
    let mut total = 0u64;
    for (p, hit) in outcomes {
        let bin = ((p * 10.0) as usize).min(9);
        sums[bin].0 += p;
        sums[bin].1 += 1;
        sums[bin].2 += u64::from(hit);
        total += 1;
    }
    let mut error = 0.0;
    let bins = sums
        .iter()
        .enumerate()
        .filter(|(_, (_, count, _))| *count > 0)
        .map(|(i, &(sum, count, hits))| {
            let mean_predicted = sum / count as f64;
            let observed = hits as f64 / count as f64;
            error += (mean_predicted - observed).abs() * count as f64 / total as f64;
            Bin { lower: i as f64 / 10.0, upper: (i + 1) as f64 / 10.0, mean_predicted, observed, count }
        })
        .collect();
    (bins, error)
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_weighs_every_class_alike() {
        // Class 0: 8 of 8 right; class 1: 1 of 2 right, the miss predicted as 0.
        let mut outcomes = vec![(0, 0, 0.9); 8];
        outcomes.push((1, 1, 0.9));
        outcomes.push((1, 0, 0.6));
        let m = classification(2, &outcomes);
        assert!((m.accuracy - 0.9).abs() < 1e-12);
        assert_eq!(m.confusion, vec![vec![8, 0], vec![1, 1]]);
        assert!((m.classes[0].precision - 8.0 / 9.0).abs() < 1e-12);
        assert!((m.classes[1].recall - 0.5).abs() < 1e-12);
        let f1_0 = 2.0 * (8.0 / 9.0) / (8.0 / 9.0 + 1.0);
        let f1_1 = 2.0 * 0.5 / 1.5;
        assert!((m.macro_f1 - (f1_0 + f1_1) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn auc_counts_pairs_and_ties() {
        assert_eq!(roc_auc(&[(true, 0.9), (false, 0.1)]), 1.0);
        assert_eq!(roc_auc(&[(true, 0.1), (false, 0.9)]), 0.0);
        assert_eq!(roc_auc(&[(true, 0.5), (false, 0.5)]), 0.5);
        // Positives at 0.8, 0.4; negatives at 0.6, 0.2: 3 of 4 pairs ordered.
        assert_eq!(roc_auc(&[(true, 0.8), (true, 0.4), (false, 0.6), (false, 0.2)]), 0.75);
    }

    #[test]
    fn a_calibrated_score_has_no_calibration_error() {
        let mut outcomes = vec![(true, 0.25); 1];
        outcomes.extend(vec![(false, 0.25); 3]);
        let r = risk(&outcomes, 0.5);
        assert!(r.calibration_error.abs() < 1e-12);
        assert_eq!(r.calibration.len(), 1);
        assert_eq!((r.precision, r.recall), (0.0, 0.0));
    }
}
