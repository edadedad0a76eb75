//! Checks of every statistic against reference values from scipy and statsmodels, and against
//! simulated data with known coefficients.

use std::f64::consts::PI;

use super::{correlation::*, distributions::*, regression::*, significance::*, *};

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
    let params = [26.697_415_125_990_446, 0.391_712_594_696_059_8, 0.077_601_394_247_459_54, 0.094_224_923_076_836_94];
    let bse = [11.198_250_086_340_68, 0.083_159_851_229_317_64, 0.063_581_535_553_121_7, 0.087_075_469_544_759_2];
    let t = [2.384_070_271_707_472, 4.710_357_088_252_741, 1.220_502_046_268_203_2, 1.082_106_402_290_518];
    let p = [0.036_239_397_986_144_936, 0.000_639_336_275_832_734_2, 0.247_792_774_758_403, 0.302_356_542_888_075_1];
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
