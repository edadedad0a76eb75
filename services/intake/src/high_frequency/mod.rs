//! The high-frequency complainant rule (高频次投诉客户): the same customer complains 3 or more
//! times within any 7 days, or 8 or more times within any 30 days, both inclusive, counted by when
//! the complaints were made (a complaint delivered late still counts at its own time).
//!
//! A customer who has met a threshold stays a high-frequency complainant, active while they keep
//! complaining and inactive once they have not complained for the activity period.
//!
//! This module is the one place a customer's status is decided: the writer records new
//! complaints through [`Rule::record_complaints`], the sweeper finds the lapsed through
//! [`Rule::active_since`], and [`view()`] is the one place the status is shown.

mod view;

use csm_proto::{
    StoredEnum,
    intake::v1::{HighFrequencyRule, HighFrequencyStatus},
};

pub use view::{recent_complaints, status_changed, view};

use crate::{config::HighFrequencySettings, store::customer};

/// A run of complaints that met a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub rule: HighFrequencyRule,
    /// Times of the first and last complaint of the run (microseconds since the epoch).
    pub start: i64,
    pub end: i64,
    pub complaints: i64,
}

/// The thresholds in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    week: i64,
    week_complaints: usize,
    month: i64,
    month_complaints: usize,
    inactive_after: i64,
}

impl Rule {
    pub fn new(settings: &HighFrequencySettings) -> Self {
        let micros = csm_kit::time::duration_micros;
        Self {
            week: micros(settings.week),
            week_complaints: settings.week_complaints.max(1),
            month: micros(settings.month),
            month_complaints: settings.month_complaints.max(1),
            inactive_after: micros(settings.inactive_after),
        }
    }

    /// How far around a complaint its windows can reach: complaints outside
    /// `[t - reach, t + reach]` never share a window with one at `t`.
    pub fn reach(&self) -> i64 {
        self.week.max(self.month)
    }

    /// The first window (by the time of its last complaint) that meets a threshold, among complaint
    /// times sorted ascending.
    pub fn first_window(&self, times: &[i64]) -> Option<Window> {
        let week = first_run(times, self.week, self.week_complaints).map(|w| (w, HighFrequencyRule::Week));
        let month = first_run(times, self.month, self.month_complaints).map(|w| (w, HighFrequencyRule::Month));
        let earliest = match (week, month) {
            (Some(w), Some(m)) => Some(if m.0.1 < w.0.1 { m } else { w }),
            (w, m) => w.or(m),
        };
        earliest.map(|((start, end, complaints), rule)| Window { rule, start, end, complaints })
    }

    /// The start of the activity period at `now`: a complainant whose last complaint is earlier
    /// is inactive.
    pub fn active_since(&self, now: i64) -> i64 {
        now.saturating_sub(self.inactive_after)
    }

    /// Active when the last complaint is within the activity period of `now`.
    pub fn status_at(&self, last_complaint: i64, now: i64) -> HighFrequencyStatus {
        if last_complaint >= self.active_since(now) {
            HighFrequencyStatus::Active
        } else {
            HighFrequencyStatus::Inactive
        }
    }

    /// Records on the customer `row` its complaints made at `new` (not empty), as of `now`: the
    /// time of its last complaint; its qualifying window, looked for only until it first qualifies,
    /// among `stored` (its stored complaint times within [`Rule::reach`] of the new ones) and the
    /// new times; and its status, which only a customer that has qualified has. Returns the
    /// previous status when the status changed.
    pub fn record_complaints(
        &self,
        row: &mut customer::Model,
        new: &[i64],
        stored: Vec<i64>,
        now: i64,
    ) -> Option<HighFrequencyStatus> {
        let previous = HighFrequencyStatus::from_str_name(&row.hf_status).unwrap_or(HighFrequencyStatus::None);
        let newest = new.iter().copied().max().unwrap_or(i64::MIN);
        let last = row.last_complaint_at.map_or(newest, |l| l.max(newest));
        row.last_complaint_at = Some(last);
        if row.hf_qualified_at.is_none() {
            let mut times = stored;
            times.extend_from_slice(new);
            times.sort_unstable();
            let window = self.first_window(&times)?;
            row.hf_qualified_at = Some(window.end);
            row.hf_rule = Some(window.rule.stored());
            row.hf_window_start = Some(window.start);
            row.hf_window_end = Some(window.end);
            row.hf_window_complaints = Some(window.complaints);
        }
        let status = self.status_at(last, now);
        if status == previous {
            return None;
        }
        row.hf_status = status.stored();
        Some(previous)
    }
}

/// The earliest-ending run of at least `needed` times spanning at most `span` (inclusive), as
/// (first time, last time, count); the run is extended backwards as far as the span allows.
fn first_run(times: &[i64], span: i64, needed: usize) -> Option<(i64, i64, i64)> {
    let mut start = 0;
    for (end, &last) in times.iter().enumerate() {
        while last - times[start] > span {
            start += 1;
        }
        let count = end - start + 1;
        if count >= needed {
            return Some((times[start], last, i64::try_from(count).unwrap_or(i64::MAX)));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = csm_kit::time::DAY_MICROS;

    fn rule() -> Rule {
        Rule::new(&HighFrequencySettings::default())
    }

    #[test]
    fn two_complaints_in_a_week_are_not_enough_three_are() {
        assert_eq!(rule().first_window(&[0, 2 * DAY]), None);
        let window = rule().first_window(&[0, 2 * DAY, 6 * DAY]).unwrap();
        assert_eq!(window.rule, HighFrequencyRule::Week);
        assert_eq!((window.start, window.end, window.complaints), (0, 6 * DAY, 3));
    }

    #[test]
    fn the_week_is_inclusive_to_the_microsecond() {
        assert!(rule().first_window(&[0, DAY, 7 * DAY]).is_some(), "exactly 7 days apart");
        assert!(rule().first_window(&[0, DAY, 7 * DAY + 1]).is_none(), "one microsecond more");
    }

    #[test]
    fn seven_complaints_in_a_month_are_not_enough_eight_are() {
        // Spread so that no 7 days hold three.
        let seven: Vec<i64> = (0..7).map(|i| i * 4 * DAY).collect();
        assert_eq!(*seven.last().unwrap(), 24 * DAY);
        assert_eq!(rule().first_window(&seven), None);
        let mut eight = seven.clone();
        eight.push(28 * DAY);
        let window = rule().first_window(&eight).unwrap();
        assert_eq!(window.rule, HighFrequencyRule::Month);
        assert_eq!((window.start, window.end, window.complaints), (0, 28 * DAY, 8));
    }

    #[test]
    fn the_month_is_inclusive_and_slides() {
        let mut times: Vec<i64> = (0..7).map(|i| i * 4 * DAY).collect();
        times.push(30 * DAY);
        assert!(rule().first_window(&times).is_some(), "day 0 to day 30 inclusive");
        times[7] = 30 * DAY + 1;
        assert!(rule().first_window(&times).is_none(), "the first complaint has slid out");
        times.push(32 * DAY);
        // Days 4..32 hold eight complaints again (and no three lie within 7 days).
        let window = rule().first_window(&times).unwrap();
        assert_eq!((window.start, window.complaints), (4 * DAY, 8));
    }

    #[test]
    fn a_late_complaint_can_complete_a_past_window() {
        let mut times = vec![DAY, 5 * DAY];
        assert!(rule().first_window(&times).is_none());
        times.insert(1, 3 * DAY);
        let window = rule().first_window(&times).unwrap();
        assert_eq!((window.start, window.end), (DAY, 5 * DAY), "qualified at its last complaint");
    }

    #[test]
    fn the_earliest_completed_window_wins() {
        // Every four days: eight complaints complete a month window on day 28; three more on days
        // 29 and 30 complete a week window only on day 30.
        let mut times: Vec<i64> = (0..8).map(|i| i * 4 * DAY).collect();
        times.extend([29 * DAY, 30 * DAY]);
        let window = rule().first_window(&times).unwrap();
        assert_eq!((window.rule, window.end), (HighFrequencyRule::Month, 28 * DAY));
        // Three complaints on days 0 to 2 complete a week window first.
        let window = rule().first_window(&[0, DAY, 2 * DAY, 3 * DAY]).unwrap();
        assert_eq!((window.rule, window.end), (HighFrequencyRule::Week, 2 * DAY));
    }

    #[test]
    fn activity_follows_the_last_complaint() {
        let rule = rule();
        assert_eq!(rule.status_at(0, 90 * DAY), HighFrequencyStatus::Active);
        assert_eq!(rule.status_at(0, 90 * DAY + 1), HighFrequencyStatus::Inactive);
    }

    fn customer() -> customer::Model {
        customer::Model {
            id: "c".into(),
            phone_number: "13900000000".into(),
            segment: None,
            vip_level: None,
            region: None,
            products: None,
            first_contact_at: 0,
            last_contact_at: 0,
            last_complaint_at: None,
            hf_status: HighFrequencyStatus::None.as_str_name().into(),
            hf_qualified_at: None,
            hf_rule: None,
            hf_window_start: None,
            hf_window_end: None,
            hf_window_complaints: None,
        }
    }

    #[test]
    fn recording_complaints_qualifies_once_and_reports_each_change() {
        let rule = rule();
        let mut row = customer();
        assert_eq!(rule.record_complaints(&mut row, &[DAY], vec![0], 2 * DAY), None, "two are not enough");
        assert_eq!((row.last_complaint_at, row.hf_qualified_at), (Some(DAY), None));

        let changed = rule.record_complaints(&mut row, &[2 * DAY], vec![0, DAY], 2 * DAY);
        assert_eq!(changed, Some(HighFrequencyStatus::None));
        assert_eq!(row.hf_status, HighFrequencyStatus::Active.as_str_name());
        assert_eq!(
            (row.hf_qualified_at, row.hf_window_start, row.hf_window_complaints),
            (Some(2 * DAY), Some(0), Some(3))
        );

        assert_eq!(rule.record_complaints(&mut row, &[3 * DAY], Vec::new(), 3 * DAY), None, "still active");
        assert_eq!(row.hf_qualified_at, Some(2 * DAY), "the qualifying window stays the first");

        row.hf_status = HighFrequencyStatus::Inactive.as_str_name().into();
        let changed = rule.record_complaints(&mut row, &[200 * DAY], Vec::new(), 200 * DAY);
        assert_eq!(changed, Some(HighFrequencyStatus::Inactive), "active again");
        assert_eq!(row.last_complaint_at, Some(200 * DAY));
    }

    #[test]
    fn the_sweep_boundary_is_the_status_boundary() {
        let rule = rule();
        let now = 100 * DAY;
        assert_eq!(rule.status_at(rule.active_since(now), now), HighFrequencyStatus::Active);
        assert_eq!(rule.status_at(rule.active_since(now) - 1, now), HighFrequencyStatus::Inactive);
    }
}
