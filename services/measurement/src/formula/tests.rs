//! Formulas read and evaluated end to end: ratios, NPS, shared measures and the mistakes named.

use super::*;

fn tally(count: i64, total: f64) -> Tally {
    Tally::new(count, total)
}

#[test]
fn a_ratio_of_counts_reads_as_counts() {
    let formula = parse("count(cases where on_time = true) / count(cases)").unwrap();
    assert_eq!(formula.measures.len(), 2);
    assert_eq!(formula.measures[0].canonical(), "cases where on_time = true");
    let tallies = [tally(3, 0.0), tally(4, 0.0)];
    assert_eq!(formula.evaluate(&tallies, None), Some(0.75));
    assert_eq!(formula.counts(&tallies), (3, 4));
    assert_eq!(formula.evaluate(&[tally(0, 0.0), tally(0, 0.0)], None), None);
}

#[test]
fn nps_is_promoters_less_detractors() {
    let formula = parse(
        r#"100 * (count(surveys where indicator = "nps" and score >= 9) - count(surveys where score <= 6 and indicator = "nps")) / count(surveys where indicator = "nps")"#,
    )
    .unwrap();
    assert_eq!(formula.measures.len(), 3);
    let value = formula.evaluate(&[tally(5, 0.0), tally(2, 0.0), tally(10, 0.0)], None).unwrap();
    assert!((value - 30.0).abs() < 1e-9);
}

#[test]
fn the_same_aggregate_is_one_measure_whatever_the_order_of_its_conditions() {
    let formula = parse(r#"count(usage where type = "activation" and success = true) / count(usage where success = true and type = "activation")"#).unwrap();
    assert_eq!(formula.measures.len(), 1);
    let formula = parse(r#"avg(usage.value where metric in ("a", "b")) + customers"#).unwrap();
    assert_eq!(formula.measures[0].canonical(), r#"usage.value where metric in ("a", "b")"#);
    assert_eq!(formula.evaluate(&[tally(2, 5.0)], Some(1.0)), Some(3.5));
    assert_eq!(formula.evaluate(&[tally(2, 5.0)], None), None);
}

#[test]
fn mistakes_are_named_with_where_they_are() {
    let cases = [
        ("count(orders)", "unknown source"),
        ("count(cases where colour = \"red\")", "has no field"),
        ("sum(cases)", "need a field"),
        ("count(cases.handling_hours)", "without a field"),
        ("count(cases where on_time = 1)", "true or false"),
        ("count(cases where contact_type > \"a\")", "compare it with = or !="),
        ("count(cases", "expected \")\""),
        ("1 + 2", "at least one"),
        ("count(cases) $", "unexpected character"),
        ("avg(surveys.question)", "not a number"),
    ];
    for (text, expected) in cases {
        let error = parse(text).unwrap_err();
        assert!(error.message.contains(expected), "{text}: {error}");
    }
    assert_eq!(parse("count(orders)").unwrap_err().at, 6);
}

#[test]
fn a_median_of_a_duration_is_read_from_its_minute_bins() {
    let formula = parse("median(cases.handling_hours where contact_type = \"fault_report\")").unwrap();
    let measure = &formula.measures[0];
    assert!(measure.binned);
    assert_eq!(measure.canonical(), r#"median cases.handling_hours where contact_type = "fault_report""#);
    assert_eq!(&parse_measure(&measure.canonical()).unwrap(), measure, "stored and read back");
    assert!(!parse_measure("cases.handling_hours").unwrap().binned, "a sum's measure keeps no bins");
    let binned = |minutes: &[i64]| {
        let mut tally = tally(minutes.len() as i64, 0.0);
        for m in minutes {
            tally.add_to_bin(*m, 1);
        }
        tally
    };
    // Odd: the middle value. Even: the mean of the two middle ones (20 h and 30 h).
    assert_eq!(formula.evaluate(&[binned(&[600, 1200, 3600])], None), Some(20.0));
    assert_eq!(formula.evaluate(&[binned(&[3690, 600, 1800, 1200])], None), Some(25.0));
    assert_eq!(formula.evaluate(&[binned(&[750, 780])], None), Some(12.75));
    assert_eq!(formula.evaluate(&[tally(0, 0.0)], None), None, "nothing resolved: no median");
    // Tallies of two days add up to the tally of both.
    let mut both = binned(&[600, 1200, 3600]);
    both += binned(&[600, 1200]);
    assert_eq!(formula.evaluate(&[both], None), Some(20.0));
    let mut gone = binned(&[600]);
    gone.add_to_bin(600, -1);
    assert!(gone.bins.is_empty(), "a bin back to nothing is forgotten");
    for (text, expected) in [
        ("median(cases.on_time)", "not a number"),
        ("median(surveys.score)", "not a duration"),
        ("median(cases)", "need a field"),
    ] {
        let error = parse(text).unwrap_err();
        assert!(error.message.contains(expected), "{text}: {error}");
    }
}

#[test]
fn the_closed_loop_sources_read_like_the_others() {
    let formula = parse("count(detractors where contacted_within_48h = true) / count(detractors)").unwrap();
    assert_eq!(formula.measures.len(), 2);
    parse("count(appeal_risks where past_due = false and contact_type = \"complaint\")").unwrap();
    parse("count(cases where answered_late = true) / count(cases where regulator_clock = true)").unwrap();
    parse("median(cases.handling_hours) - avg(detractors.recover_hours)").unwrap();
    let cases = [
        ("median(detractors.score)", "not a duration"),
        ("count(detractors where contacted_within_48h = 1)", "true or false"),
        ("count(appeal_risks where raised = true)", "has no field"),
    ];
    for (text, expected) in cases {
        let error = parse(text).unwrap_err();
        assert!(error.message.contains(expected), "{text}: {error}");
    }
}
