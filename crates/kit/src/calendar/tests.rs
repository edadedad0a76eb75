use super::*;

const HOUR: i64 = 3_600_000_000;

fn shanghai(date: &str, time: &str) -> i64 {
    let local = chrono::NaiveDateTime::parse_from_str(&format!("{date} {time}"), "%Y-%m-%d %H:%M").unwrap();
    chrono_tz::Asia::Shanghai.from_local_datetime(&local).unwrap().timestamp_micros()
}

/// Billing works office hours; 1 December is a holiday for everyone.
fn operator() -> OperatorCalendar {
    let settings = CalendarSettings {
        holidays: vec!["2026-12-01".into()],
        working_time: [("billing".to_string(), WorkingTimeSettings::default())].into(),
        ..CalendarSettings::default()
    };
    OperatorCalendar::from_settings(&settings).unwrap()
}

fn office() -> WorkingHours {
    operator().hours_of("billing").clone()
}

#[test]
fn round_the_clock_adds_plainly() {
    assert_eq!(WorkingHours::RoundTheClock.add(10, 5), 15);
    assert_eq!(WorkingHours::RoundTheClock.between(10, 15), 5);
    assert_eq!(WorkingHours::RoundTheClock.between(15, 10), 0);
    assert_eq!(WorkingHours::RoundTheClock.add(i64::MAX - 1, 5), i64::MAX);
}

#[test]
fn a_limit_runs_over_the_night_and_the_weekend() {
    // Friday 2026-11-27 16:00 plus 4 working hours: 2 on Friday, 2 on Monday morning.
    let from = shanghai("2026-11-27", "16:00");
    assert_eq!(operator().deadline("billing", from, 4 * HOUR), shanghai("2026-11-30", "11:00"));
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
fn a_department_without_working_time_counts_round_the_clock() {
    let from = shanghai("2026-11-27", "16:00");
    assert_eq!(operator().deadline("network", from, 4 * HOUR), from + 4 * HOUR);
}

#[test]
fn a_pause_counts_only_its_working_part() {
    let from = shanghai("2026-11-26", "17:30");
    let to = shanghai("2026-11-27", "09:45");
    assert_eq!(office().between(from, to), HOUR / 2 + HOUR * 3 / 4);
}

#[test]
fn days_are_cut_at_the_operators_midnight() {
    let days = operator().days();
    // 07:00 in Shanghai on 2 December is still 1 December in UTC.
    let morning = shanghai("2026-12-02", "07:00");
    assert_eq!(days.date_of(morning).to_string(), "2026-12-02");
    assert_eq!(days.day_start(morning), shanghai("2026-12-02", "00:00"));
    let number = days.day_number(morning);
    assert_eq!(number, days.day_number(shanghai("2026-12-02", "23:59")));
    assert_eq!(number, days.day_number(shanghai("2026-12-01", "23:59")) + 1);
    assert_eq!(days.start_of_day_number(number), shanghai("2026-12-02", "00:00"));
    let utc = LocalDays::new("UTC").unwrap();
    assert_eq!(utc.day_number(0), 0);
    assert_eq!(utc.start_of_day_number(1), time::DAY_MICROS);
    // Extreme instants and day numbers saturate instead of failing.
    let _ = days.day_number(i64::MIN);
    let _ = days.start_of_day_number(i64::MAX);
    let _ = days.start_of_day_number(i64::MIN);
}

#[test]
fn bad_calendars_are_refused_naming_the_setting() {
    let bad = |f: fn(&mut CalendarSettings)| {
        let mut settings = CalendarSettings::default();
        f(&mut settings);
        OperatorCalendar::from_settings(&settings).unwrap_err()
    };
    assert!(bad(|s| s.time_zone = "Mars/Olympus".into()).contains("calendar.time_zone"));
    assert!(bad(|s| s.holidays = vec!["1 May".into()]).contains("calendar.holidays"));
    let department = |f: fn(&mut WorkingTimeSettings)| {
        let mut settings = CalendarSettings::default();
        let mut working = WorkingTimeSettings::default();
        f(&mut working);
        settings.working_time.insert("billing".into(), working);
        OperatorCalendar::from_settings(&settings).unwrap_err()
    };
    assert!(department(|w| w.days.clear()).contains("calendar.working_time.billing: at least one working day"));
    assert!(department(|w| w.end = "08:00".into()).contains("start before"));
    assert!(department(|w| w.holidays = vec!["1 May".into()]).contains("not a date"));
    assert!(department(|w| w.days = vec!["someday".into()]).contains("weekday"));
}

#[test]
fn the_regulators_days_are_counted_in_the_operators_zone_from_the_next_day() {
    let days = LocalDays::new("Asia/Shanghai").unwrap();
    // Raised at 23:30 on 1 December in Beijing (15:30 UTC): day one is 2 December, so fifteen
    // days end at midnight starting 17 December, Beijing time.
    let raised = shanghai("2026-12-01", "23:30");
    assert_eq!(days.end_of_days_after(raised, 15), shanghai("2026-12-17", "00:00"));
    // Raised 31 minutes later it is the next Beijing day, and due a day later.
    assert_eq!(days.end_of_days_after(raised + 31 * 60_000_000, 15), shanghai("2026-12-18", "00:00"));
    assert_eq!(days.end_of_days_after(raised, 0), shanghai("2026-12-02", "00:00"));
}
