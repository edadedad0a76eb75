//! Working-time calendars: handling time limits count only the hours a department works, where
//! the operator configures it (工作时间). Without a calendar a limit runs round the clock.
//!
//! Times are microseconds since the epoch, as stored.

use std::collections::{BTreeMap, HashSet};

use chrono::{Datelike, Days, NaiveDate, NaiveTime, TimeZone, Weekday};
use chrono_tz::Tz;

use crate::config::WorkingTimeSettings;

/// No calendar walks further than this many days looking for working time.
const MAX_DAYS: u64 = 3660;

#[derive(Debug, Clone, PartialEq)]
pub enum Calendar {
    /// Every moment counts.
    RoundTheClock,
    Working(WorkingTime),
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkingTime {
    zone: Tz,
    days: HashSet<Weekday>,
    start: NaiveTime,
    end: NaiveTime,
    holidays: HashSet<NaiveDate>,
}

impl WorkingTime {
    pub fn from_settings(settings: &WorkingTimeSettings) -> Result<Self, String> {
        let zone: Tz = settings.time_zone.parse().map_err(|_| format!("unknown time zone {:?}", settings.time_zone))?;
        let days = settings
            .days
            .iter()
            .map(|day| day.parse::<Weekday>().map_err(|_| format!("not a weekday: {day:?}")))
            .collect::<Result<HashSet<_>, _>>()?;
        if days.is_empty() {
            return Err("at least one working day is needed".into());
        }
        let time = |text: &str| {
            NaiveTime::parse_from_str(text, "%H:%M").map_err(|_| format!("not a time of day (HH:MM): {text:?}"))
        };
        let (start, end) = (time(&settings.start)?, time(&settings.end)?);
        if start >= end {
            return Err(format!("working day must start before it ends ({} - {})", settings.start, settings.end));
        }
        let holidays = settings
            .holidays
            .iter()
            .map(|day| NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| format!("not a date: {day:?}")))
            .collect::<Result<HashSet<_>, _>>()?;
        Ok(Self { zone, days, start, end, holidays })
    }

    /// The working window of `date`, in microseconds, if it is a working day.
    fn window(&self, date: NaiveDate) -> Option<(i64, i64)> {
        if !self.days.contains(&date.weekday()) || self.holidays.contains(&date) {
            return None;
        }
        let at = |time| self.zone.from_local_datetime(&date.and_time(time)).earliest().map(|t| t.timestamp_micros());
        Some((at(self.start)?, at(self.end)?))
    }

    fn local_date(&self, at: i64) -> NaiveDate {
        self.zone.timestamp_micros(at).single().map_or(NaiveDate::MIN, |t| t.date_naive())
    }

    /// Working days from the one containing `from`, as windows.
    fn windows_from(&self, from: i64) -> impl Iterator<Item = (i64, i64)> + '_ {
        let first = self.local_date(from);
        (0..MAX_DAYS).filter_map(move |n| first.checked_add_days(Days::new(n))).filter_map(|date| self.window(date))
    }
}

impl Calendar {
    /// The moment `duration` of counted time after `from`.
    pub fn add(&self, from: i64, duration: i64) -> i64 {
        let Calendar::Working(working) = self else {
            return from.saturating_add(duration);
        };
        let mut remaining = duration.max(0);
        for (start, end) in working.windows_from(from) {
            let begin = start.max(from);
            if begin >= end {
                continue;
            }
            if remaining <= end - begin {
                return begin + remaining;
            }
            remaining -= end - begin;
        }
        i64::MAX
    }

    /// Counted time between `from` and `to` (zero when `to` is not after `from`).
    pub fn between(&self, from: i64, to: i64) -> i64 {
        if to <= from {
            return 0;
        }
        let Calendar::Working(working) = self else {
            return to - from;
        };
        let mut total = 0;
        for (start, end) in working.windows_from(from) {
            if start >= to {
                break;
            }
            total += (end.min(to) - start.max(from)).max(0);
        }
        total
    }
}

/// The calendar of each department, with the `default` entry for the rest.
#[derive(Debug, Clone, Default)]
pub struct Calendars {
    by_department: BTreeMap<String, Calendar>,
    default: Option<Calendar>,
}

impl Calendars {
    pub fn from_settings(settings: &BTreeMap<String, WorkingTimeSettings>) -> Result<Self, String> {
        let mut calendars = Self::default();
        for (department, working) in settings {
            let calendar = Calendar::Working(
                WorkingTime::from_settings(working).map_err(|e| format!("recovery.working_time.{department}: {e}"))?,
            );
            if department == "default" {
                calendars.default = Some(calendar);
            } else {
                calendars.by_department.insert(department.clone(), calendar);
            }
        }
        Ok(calendars)
    }

    pub fn of(&self, department: &str) -> &Calendar {
        self.by_department.get(department).or(self.default.as_ref()).unwrap_or(&Calendar::RoundTheClock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000;

    fn shanghai(date: &str, time: &str) -> i64 {
        let local = chrono::NaiveDateTime::parse_from_str(&format!("{date} {time}"), "%Y-%m-%d %H:%M").unwrap();
        chrono_tz::Asia::Shanghai.from_local_datetime(&local).unwrap().timestamp_micros()
    }

    fn office() -> Calendar {
        let settings = WorkingTimeSettings { holidays: vec!["2026-12-01".into()], ..WorkingTimeSettings::default() };
        Calendar::Working(WorkingTime::from_settings(&settings).unwrap())
    }

    #[test]
    fn round_the_clock_adds_plainly() {
        assert_eq!(Calendar::RoundTheClock.add(10, 5), 15);
        assert_eq!(Calendar::RoundTheClock.between(10, 15), 5);
        assert_eq!(Calendar::RoundTheClock.between(15, 10), 0);
    }

    #[test]
    fn a_limit_runs_over_the_night_and_the_weekend() {
        // Friday 2026-11-27 16:00 plus 4 working hours: 2 on Friday, 2 on Monday morning.
        let from = shanghai("2026-11-27", "16:00");
        assert_eq!(office().add(from, 4 * HOUR), shanghai("2026-11-30", "11:00"));
        assert_eq!(office().between(from, shanghai("2026-11-30", "11:00")), 4 * HOUR);
    }

    #[test]
    fn time_outside_working_hours_starts_at_the_next_opening() {
        let saturday = shanghai("2026-11-28", "10:00");
        assert_eq!(office().add(saturday, HOUR), shanghai("2026-11-30", "10:00"));
        // Monday 30 Nov 17:00 + 2h: 1h on Monday, Tuesday 1 Dec is a holiday, 1h on Wednesday.
        assert_eq!(office().add(shanghai("2026-11-30", "17:00"), 2 * HOUR), shanghai("2026-12-02", "10:00"));
    }

    #[test]
    fn a_pause_counts_only_its_working_part() {
        let from = shanghai("2026-11-26", "17:30");
        let to = shanghai("2026-11-27", "09:45");
        assert_eq!(office().between(from, to), HOUR / 2 + HOUR * 3 / 4);
    }

    #[test]
    fn bad_calendars_are_refused() {
        let bad = |f: fn(&mut WorkingTimeSettings)| {
            let mut settings = WorkingTimeSettings::default();
            f(&mut settings);
            WorkingTime::from_settings(&settings).unwrap_err()
        };
        assert!(bad(|s| s.time_zone = "Mars/Olympus".into()).contains("time zone"));
        assert!(bad(|s| s.days.clear()).contains("working day"));
        assert!(bad(|s| s.end = "08:00".into()).contains("start before"));
        assert!(bad(|s| s.holidays = vec!["1 May".into()]).contains("not a date"));
        assert!(bad(|s| s.days = vec!["someday".into()]).contains("weekday"));
    }
}
