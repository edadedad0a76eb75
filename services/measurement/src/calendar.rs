//! Periods are cut in the operator's time zone, not in UTC: a complaint made at 07:30 in Beijing
//! belongs to that Beijing day, although it is still the previous day in UTC. The days are the
//! operator's calendar's (`csm_kit::calendar`), the same days classification counts by.
//!
//! Cells are kept by the hour and by the day; weeks (ISO, Monday first) and months are sums of
//! their days, which is exact because they start at a local midnight.

use chrono::{DateTime, Datelike, Days, Duration, Months, NaiveDate, Timelike, Utc};
use csm_kit::{calendar::LocalDays, time};

/// A period length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grain {
    Hour,
    Day,
    Week,
    Month,
}

impl Grain {
    /// The grain stored in cells that this grain is read from.
    pub fn stored(self) -> Grain {
        match self {
            Grain::Hour => Grain::Hour,
            _ => Grain::Day,
        }
    }

    pub fn code(self) -> i16 {
        self as i16
    }
}

const HOUR_MICROS: i64 = 3_600_000_000;
const DAY_MICROS: i64 = 24 * HOUR_MICROS;

#[derive(Debug, Clone, Copy)]
pub struct Calendar {
    days: LocalDays,
}

/// The local day last seen, so that most events need no time-zone conversion.
#[derive(Debug, Clone, Copy, Default)]
pub struct DayCache {
    start: i64,
    end: i64,
}

impl Calendar {
    /// Periods cut on the operator's days.
    pub fn of(days: LocalDays) -> Self {
        Self { days }
    }

    /// A calendar for an IANA zone name such as "Asia/Shanghai".
    pub fn new(zone: &str) -> Result<Self, String> {
        LocalDays::new(zone).map(Self::of)
    }

    pub fn zone_name(&self) -> &'static str {
        self.days.zone_name()
    }

    /// The local date of an instant.
    pub fn date_of(&self, at: i64) -> NaiveDate {
        self.days.date_of(at)
    }

    /// When a local day starts, as an instant.
    pub fn start_of(&self, day: NaiveDate) -> i64 {
        self.days.start_of(day)
    }

    /// Start of the hour and of the day an instant falls in.
    pub fn hour_and_day(&self, at: i64, cache: &mut DayCache) -> (i64, i64) {
        if !(cache.start..cache.end).contains(&at) {
            let day = self.date_of(at);
            let start = self.start_of(day);
            let end = day.checked_add_days(Days::new(1)).map_or(start + DAY_MICROS, |next| self.start_of(next));
            *cache = DayCache { start, end };
        }
        if cache.end - cache.start == DAY_MICROS {
            return (cache.start + (at - cache.start) / HOUR_MICROS * HOUR_MICROS, cache.start);
        }
        // A day with a daylight-saving change: ask the zone.
        let local = time::from_micros(at).with_timezone(&self.days.zone());
        let hour = local.with_minute(0).and_then(|t| t.with_second(0)).and_then(|t| t.with_nanosecond(0));
        (hour.map_or(at, |h| time::micros(h.with_timezone(&Utc))), cache.start)
    }

    /// The start of the `grain` period holding the stored period that starts at `start`.
    pub fn period_of(&self, grain: Grain, start: i64) -> i64 {
        match grain {
            Grain::Hour | Grain::Day => start,
            Grain::Week => {
                let day = self.date_of(start);
                let monday = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
                self.start_of(monday)
            }
            Grain::Month => self.start_of(self.date_of(start).with_day(1).unwrap_or(self.date_of(start))),
        }
    }

    /// The periods of `grain` whose start lies in `[start, end)`, as their starts, and the end of
    /// the last one. At most `limit` periods.
    pub fn periods(&self, grain: Grain, start: i64, end: i64, limit: usize) -> (Vec<i64>, i64) {
        let mut periods = Vec::new();
        let mut at = match grain {
            Grain::Hour => self.hour_and_day(start, &mut DayCache::default()).0,
            _ => self.period_of(grain, self.day_start(start)),
        };
        while at < start {
            at = self.next(grain, at);
        }
        let mut last_end = at;
        while at < end && periods.len() < limit {
            periods.push(at);
            at = self.next(grain, at);
            last_end = at;
        }
        (periods, last_end)
    }

    /// Start of the local day an instant falls in.
    pub fn day_start(&self, at: i64) -> i64 {
        self.days.day_start(at)
    }

    /// The start of the period after the one starting at `start`.
    pub fn next(&self, grain: Grain, start: i64) -> i64 {
        let day = self.date_of(start);
        let next = match grain {
            Grain::Hour => {
                let (hour, _) = self.hour_and_day(start + HOUR_MICROS, &mut DayCache::default());
                return if hour > start { hour } else { start + HOUR_MICROS };
            }
            Grain::Day => day.checked_add_days(Days::new(1)),
            Grain::Week => day.checked_add_days(Days::new(7)),
            Grain::Month => day.with_day(1).and_then(|first| first.checked_add_months(Months::new(1))),
        };
        next.map_or(start + DAY_MICROS, |d| self.start_of(d))
    }

    /// How a period is labelled: "2026-11-24T09", "2026-11-24", "2026-W48", "2026-11".
    pub fn label(&self, grain: Grain, start: i64) -> String {
        let local = time::from_micros(start).with_timezone(&self.days.zone());
        match grain {
            Grain::Hour => local.format("%Y-%m-%dT%H").to_string(),
            Grain::Day => local.format("%Y-%m-%d").to_string(),
            Grain::Week => {
                let week = local.date_naive().iso_week();
                format!("{}-W{:02}", week.year(), week.week())
            }
            Grain::Month => local.format("%Y-%m").to_string(),
        }
    }

    /// A month as people read it: "2026年11月" and "November 2026".
    pub fn month_names(&self, start: i64) -> (String, String) {
        let local = time::from_micros(start).with_timezone(&self.days.zone());
        (local.format("%Y年%-m月").to_string(), local.format("%B %Y").to_string())
    }

    /// An instant to the minute on the operator's clock, with the zone: "2026-12-02 15:04 Asia/Shanghai".
    pub fn minute_label(&self, at: i64) -> String {
        let local = time::from_micros(at).with_timezone(&self.days.zone());
        format!("{} {}", local.format("%Y-%m-%d %H:%M"), self.zone_name())
    }

    /// The month "YYYY-MM" as `[start, end)`.
    pub fn month(&self, month: &str) -> Option<(i64, i64)> {
        let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()?;
        let next = first.checked_add_months(Months::new(1))?;
        Some((self.start_of(first), self.start_of(next)))
    }

    pub fn to_utc(&self, at: i64) -> DateTime<Utc> {
        time::from_micros(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        time::micros(DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc))
    }

    #[test]
    fn months_and_minutes_read_on_the_operator_clock() {
        let beijing = Calendar::new("Asia/Shanghai").unwrap();
        let (start, _) = beijing.month("2026-12").unwrap();
        assert_eq!(beijing.month_names(start), ("2026年12月".to_string(), "December 2026".to_string()));
        assert_eq!(beijing.minute_label(at("2026-12-02T07:04:59.123456Z")), "2026-12-02 15:04 Asia/Shanghai");
    }

    #[test]
    fn days_and_hours_follow_the_reporting_zone() {
        let beijing = Calendar::new("Asia/Shanghai").unwrap();
        let mut cache = DayCache::default();
        let (hour, day) = beijing.hour_and_day(at("2026-11-23T23:30:00Z"), &mut cache);
        assert_eq!(beijing.label(Grain::Day, day), "2026-11-24");
        assert_eq!(beijing.label(Grain::Hour, hour), "2026-11-24T07");
        assert_eq!(day, at("2026-11-23T16:00:00Z"));
        let utc = Calendar::new("UTC").unwrap();
        assert_eq!(utc.label(Grain::Day, utc.hour_and_day(at("2026-11-23T23:30:00Z"), &mut cache).1), "2026-11-23");
    }

    #[test]
    fn a_daylight_saving_day_has_its_own_hours() {
        let berlin = Calendar::new("Europe/Berlin").unwrap();
        let mut cache = DayCache::default();
        // 2026-03-29: clocks go from 02:00 to 03:00 local; 01:30 UTC is 03:30 local.
        let (hour, day) = berlin.hour_and_day(at("2026-03-29T01:30:00Z"), &mut cache);
        assert_eq!(berlin.label(Grain::Hour, hour), "2026-03-29T03");
        assert_eq!(day, at("2026-03-28T23:00:00Z"));
    }

    #[test]
    fn weeks_and_months_gather_their_days() {
        let beijing = Calendar::new("Asia/Shanghai").unwrap();
        let tuesday = at("2026-11-24T02:00:00Z");
        let week = beijing.period_of(Grain::Week, tuesday);
        assert_eq!(beijing.label(Grain::Day, week), "2026-11-23");
        assert_eq!(beijing.label(Grain::Week, week), "2026-W48");
        let month = beijing.period_of(Grain::Month, tuesday);
        assert_eq!(month, at("2026-10-31T16:00:00Z"));
        assert_eq!(beijing.label(Grain::Month, month), "2026-11");
        assert_eq!(beijing.month("2026-11"), Some((at("2026-10-31T16:00:00Z"), at("2026-11-30T16:00:00Z"))));
        assert_eq!(beijing.month("2026-13"), None);
    }

    #[test]
    fn a_range_holds_the_periods_that_start_inside_it() {
        let beijing = Calendar::new("Asia/Shanghai").unwrap();
        let (days, end) = beijing.periods(Grain::Day, at("2026-11-23T16:00:00Z"), at("2026-11-25T16:00:00Z"), 400);
        let labels: Vec<String> = days.iter().map(|d| beijing.label(Grain::Day, *d)).collect();
        assert_eq!(labels, ["2026-11-24", "2026-11-25"]);
        assert_eq!(end, at("2026-11-25T16:00:00Z"));
        let (days, _) = beijing.periods(Grain::Day, at("2026-11-23T16:00:01Z"), at("2026-11-25T16:00:01Z"), 400);
        assert_eq!(days.len(), 2);
        assert_eq!(beijing.label(Grain::Day, days[0]), "2026-11-25");
        let (months, _) = beijing.periods(Grain::Month, at("2026-10-31T16:00:00Z"), at("2027-01-01T00:00:00Z"), 400);
        assert_eq!(months.len(), 3, "November, December, and January starting at Beijing midnight");
        let (hours, _) = beijing.periods(Grain::Hour, at("2026-11-24T00:30:00Z"), at("2026-11-24T03:00:00Z"), 400);
        assert_eq!(hours.len(), 2);
        assert_eq!(beijing.label(Grain::Hour, hours[0]), "2026-11-24T09");
    }

    #[test]
    fn unknown_zones_are_refused() {
        assert!(Calendar::new("Mars/Olympus").is_err());
    }
}
