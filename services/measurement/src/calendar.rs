//! Periods are cut in the operator's time zone, not in UTC: a complaint made at 07:30 in Beijing
//! belongs to that Beijing day, although it is still the previous day in UTC.

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::store::DayRange;

#[derive(Debug, Clone, Copy)]
pub struct Calendar {
    zone: Tz,
}

impl Calendar {
    /// A calendar for an IANA zone name such as "Asia/Shanghai".
    pub fn new(zone: &str) -> Result<Self, String> {
        let zone =
            zone.parse::<Tz>().map_err(|e| format!("measurement.time_zone {zone:?} is not an IANA time zone: {e}"))?;
        Ok(Self { zone })
    }

    pub fn zone_name(&self) -> &'static str {
        self.zone.name()
    }

    /// The local day of an instant, as `YYYY-MM-DD`.
    pub fn day_of(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.zone).date_naive().format("%Y-%m-%d").to_string()
    }

    /// When a local day starts, as an instant.
    pub fn start_of(&self, day: NaiveDate) -> DateTime<Utc> {
        let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
        self.zone
            .from_local_datetime(&midnight)
            .earliest()
            .map(|local| local.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
    }

    /// The days whose start lies in `[start, end)`, or None when there is none.
    pub fn days_starting_in(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Option<DayRange> {
        let mut first = start.with_timezone(&self.zone).date_naive();
        if self.start_of(first) < start {
            first = first.checked_add_days(Days::new(1))?;
        }
        let mut last = end.with_timezone(&self.zone).date_naive();
        if self.start_of(last) >= end {
            last = last.checked_sub_days(Days::new(1))?;
        }
        (first <= last).then(|| DayRange {
            first: first.format("%Y-%m-%d").to_string(),
            last: last.format("%Y-%m-%d").to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn days_follow_the_reporting_zone() {
        let beijing = Calendar::new("Asia/Shanghai").unwrap();
        assert_eq!(beijing.day_of(at("2026-11-23T23:30:00Z")), "2026-11-24");
        assert_eq!(Calendar::new("UTC").unwrap().day_of(at("2026-11-23T23:30:00Z")), "2026-11-23");
    }

    #[test]
    fn a_range_holds_the_days_that_start_inside_it() {
        let beijing = Calendar::new("Asia/Shanghai").unwrap();
        // Beijing midnight of the 24th is 16:00 UTC on the 23rd.
        let range = beijing.days_starting_in(at("2026-11-23T16:00:00Z"), at("2026-11-25T16:00:00Z")).unwrap();
        assert_eq!((range.first.as_str(), range.last.as_str()), ("2026-11-24", "2026-11-25"));
        let range = beijing.days_starting_in(at("2026-11-23T16:00:01Z"), at("2026-11-25T16:00:01Z")).unwrap();
        assert_eq!((range.first.as_str(), range.last.as_str()), ("2026-11-25", "2026-11-26"));
        assert!(beijing.days_starting_in(at("2026-11-23T16:00:01Z"), at("2026-11-24T16:00:00Z")).is_none());
    }

    #[test]
    fn unknown_zones_are_refused() {
        assert!(Calendar::new("Mars/Olympus").is_err());
    }
}
