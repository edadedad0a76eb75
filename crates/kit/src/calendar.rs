//! The operator's calendar (运营日历): the time zone its days are cut in, the hours each
//! department works (工作时间) and the holidays. Every service reads it from the same `[calendar]`
//! section of the common settings, so a handling deadline and "a day" mean the same thing in
//! classification, recovery and measurement.
//!
//! Times are microseconds since the epoch, as stored.

use std::collections::{BTreeMap, HashSet};

use chrono::{Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::time;

/// No working-time walk goes further than this many days looking for working time.
const MAX_DAYS: u64 = 3660;

/// The `[calendar]` section every service reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalendarSettings {
    /// IANA time zone in which days (and hours, weeks, months) are cut and working hours read.
    pub time_zone: String,
    /// Dates no department works, "YYYY-MM-DD".
    pub holidays: Vec<String>,
    /// Working time by department; the entry `default` applies to departments without their own.
    /// With none, handling time limits run round the clock.
    pub working_time: BTreeMap<String, WorkingTimeSettings>,
}

impl Default for CalendarSettings {
    fn default() -> Self {
        Self { time_zone: "Asia/Shanghai".into(), holidays: Vec::new(), working_time: BTreeMap::new() }
    }
}

/// When a department works: these weekdays, between `start` and `end` local time, except the
/// calendar's holidays and its own.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkingTimeSettings {
    /// Weekdays worked: "mon" ... "sun".
    pub days: Vec<String>,
    /// "HH:MM".
    pub start: String,
    pub end: String,
    /// Dates this department does not work besides the calendar's holidays, "YYYY-MM-DD".
    pub holidays: Vec<String>,
}

impl Default for WorkingTimeSettings {
    fn default() -> Self {
        Self {
            days: ["mon", "tue", "wed", "thu", "fri"].map(String::from).to_vec(),
            start: "09:00".into(),
            end: "18:00".into(),
            holidays: Vec::new(),
        }
    }
}

/// Days as the operator counts them: cut at local midnight in its time zone, so a complaint made
/// at 07:30 in Beijing belongs to that Beijing day although it is still the day before in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalDays {
    zone: Tz,
}

impl LocalDays {
    /// Days in an IANA zone such as "Asia/Shanghai".
    pub fn new(zone: &str) -> Result<Self, String> {
        let zone =
            zone.parse::<Tz>().map_err(|e| format!("calendar.time_zone {zone:?} is not an IANA time zone: {e}"))?;
        Ok(Self { zone })
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    pub fn zone_name(&self) -> &'static str {
        self.zone.name()
    }

    /// The local date of an instant.
    pub fn date_of(&self, at: i64) -> NaiveDate {
        time::from_micros(at).with_timezone(&self.zone).date_naive()
    }

    /// When a local day starts, as an instant (the first moment that exists, on a day whose
    /// midnight a daylight-saving change skips).
    pub fn start_of(&self, day: NaiveDate) -> i64 {
        let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
        let start = self
            .zone
            .from_local_datetime(&midnight)
            .earliest()
            .map(|local| local.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&midnight));
        time::micros(start)
    }

    /// Start of the local day an instant falls in.
    pub fn day_start(&self, at: i64) -> i64 {
        self.start_of(self.date_of(at))
    }

    /// The local day of an instant, numbered from 1970-01-01 (day 0), for keeping counts by day.
    pub fn day_number(&self, at: i64) -> i64 {
        i64::from(self.date_of(at).num_days_from_ce() - EPOCH_DAYS_FROM_CE)
    }

    /// The end of the `days`-th local day after the day of `at` (the day of `at` itself does not
    /// count): how the regulator counts a period in days (自然日).
    pub fn end_of_days_after(&self, at: i64, days: u32) -> i64 {
        let date = self.date_of(at);
        let end = date.checked_add_days(Days::new(u64::from(days) + 1)).unwrap_or(NaiveDate::MAX);
        self.start_of(end)
    }

    /// When the local day numbered `day` starts.
    pub fn start_of_day_number(&self, day: i64) -> i64 {
        let date = i32::try_from(day.saturating_add(i64::from(EPOCH_DAYS_FROM_CE)))
            .ok()
            .and_then(NaiveDate::from_num_days_from_ce_opt)
            .unwrap_or(if day < 0 { NaiveDate::MIN } else { NaiveDate::MAX });
        self.start_of(date)
    }
}

/// 1970-01-01 counted from 0001-01-01 (day 1).
const EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// The hours a department's handling time limits count.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkingHours {
    /// Every moment counts.
    RoundTheClock,
    Scheduled(Schedule),
}

/// Working days and hours in the operator's zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    days: LocalDays,
    weekdays: HashSet<Weekday>,
    start: NaiveTime,
    end: NaiveTime,
    holidays: HashSet<NaiveDate>,
}

impl Schedule {
    fn new(days: LocalDays, settings: &WorkingTimeSettings, holidays: &HashSet<NaiveDate>) -> Result<Self, String> {
        let weekdays = settings
            .days
            .iter()
            .map(|day| day.parse::<Weekday>().map_err(|_| format!("not a weekday: {day:?}")))
            .collect::<Result<HashSet<_>, _>>()?;
        if weekdays.is_empty() {
            return Err("at least one working day is needed".into());
        }
        let time = |text: &str| {
            NaiveTime::parse_from_str(text, "%H:%M").map_err(|_| format!("not a time of day (HH:MM): {text:?}"))
        };
        let (start, end) = (time(&settings.start)?, time(&settings.end)?);
        if start >= end {
            return Err(format!("working day must start before it ends ({} - {})", settings.start, settings.end));
        }
        let mut holidays = holidays.clone();
        holidays.extend(dates(&settings.holidays)?);
        Ok(Self { days, weekdays, start, end, holidays })
    }

    /// The working window of `date`, in microseconds, if it is a working day.
    fn window(&self, date: NaiveDate) -> Option<(i64, i64)> {
        if !self.weekdays.contains(&date.weekday()) || self.holidays.contains(&date) {
            return None;
        }
        let zone = self.days.zone();
        let at = |time| zone.from_local_datetime(&date.and_time(time)).earliest().map(|t| t.timestamp_micros());
        Some((at(self.start)?, at(self.end)?))
    }

    /// Working days from the one containing `from`, as windows.
    fn windows_from(&self, from: i64) -> impl Iterator<Item = (i64, i64)> + '_ {
        let first = self.days.date_of(from);
        (0..MAX_DAYS).filter_map(move |n| first.checked_add_days(Days::new(n))).filter_map(|date| self.window(date))
    }
}

impl WorkingHours {
    /// The moment `duration` of counted time after `from`.
    pub fn add(&self, from: i64, duration: i64) -> i64 {
        let WorkingHours::Scheduled(schedule) = self else {
            return from.saturating_add(duration);
        };
        let mut remaining = duration.max(0);
        for (start, end) in schedule.windows_from(from) {
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
        let WorkingHours::Scheduled(schedule) = self else {
            return to - from;
        };
        let mut total = 0;
        for (start, end) in schedule.windows_from(from) {
            if start >= to {
                break;
            }
            total += (end.min(to) - start.max(from)).max(0);
        }
        total
    }
}

/// The operator's calendar: its days and each department's working hours.
#[derive(Debug, Clone)]
pub struct OperatorCalendar {
    days: LocalDays,
    by_department: BTreeMap<String, WorkingHours>,
    default: WorkingHours,
}

impl OperatorCalendar {
    /// The calendar the settings describe; an error names the setting at fault.
    pub fn from_settings(settings: &CalendarSettings) -> Result<Self, String> {
        let days = LocalDays::new(&settings.time_zone)?;
        let holidays = dates(&settings.holidays).map_err(|e| format!("calendar.holidays: {e}"))?;
        let mut calendar = Self { days, by_department: BTreeMap::new(), default: WorkingHours::RoundTheClock };
        for (department, working) in &settings.working_time {
            let hours = WorkingHours::Scheduled(
                Schedule::new(days, working, &holidays)
                    .map_err(|e| format!("calendar.working_time.{department}: {e}"))?,
            );
            if department == "default" {
                calendar.default = hours;
            } else {
                calendar.by_department.insert(department.clone(), hours);
            }
        }
        Ok(calendar)
    }

    pub fn days(&self) -> LocalDays {
        self.days
    }

    /// The hours `department`'s time limits count.
    pub fn hours_of(&self, department: &str) -> &WorkingHours {
        self.by_department.get(department).unwrap_or(&self.default)
    }

    /// The handling deadline of work given to `department` at `from` with `time_limit`
    /// (microseconds of that department's working time). Every service that states a deadline
    /// computes it here.
    pub fn deadline(&self, department: &str, from: i64, time_limit: i64) -> i64 {
        self.hours_of(department).add(from, time_limit)
    }
}

fn dates(texts: &[String]) -> Result<HashSet<NaiveDate>, String> {
    texts
        .iter()
        .map(|day| NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| format!("not a date: {day:?}")))
        .collect()
}

#[cfg(test)]
mod tests;
