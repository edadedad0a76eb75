//! Numbers for people, shared by the HTML page's tables and charts: values in their unit, signed
//! differences, thousands separators. (The CSV keeps raw numbers and does not use these.)

/// Human formatting: ratio -> "93.4 %"; count -> "12,345"; anything else at most 2 decimals,
/// trailing zeros trimmed ("2.5", "4"), thousands separated. Non-finite -> "—". The unit name
/// itself is not appended (tables show it next to the indicator name).
pub fn format_value(value: f64, unit: &str) -> String {
    if !value.is_finite() {
        return "—".to_string();
    }
    match unit {
        "ratio" => format!("{} %", fmt_num(value * 100.0, 1, false)),
        "count" => fmt_num(value, 0, false),
        _ => fmt_num(value, 2, true),
    }
}

/// Fixed decimals, optional trimming, thousands separators, no "-0".
pub(super) fn fmt_num(v: f64, decimals: usize, trim: bool) -> String {
    if !v.is_finite() {
        return "—".to_string();
    }
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((s.as_str(), ""));
    let frac = if trim { frac.trim_end_matches('0') } else { frac };
    let negative = v < 0.0 && s.bytes().any(|b| b.is_ascii_digit() && b != b'0');
    let mut out = String::from(if negative { "-" } else { "" });
    let len = int.len();
    for (k, c) in int.chars().enumerate() {
        if k > 0 && (len - k) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// A difference with an explicit sign; ratios in percentage points.
pub(super) fn signed(d: f64, unit: &str) -> String {
    let sign = if d > 0.0 {
        "+"
    } else if d < 0.0 {
        "−"
    } else {
        ""
    };
    if unit == "ratio" {
        format!("{sign}{} pp", fmt_num(d.abs() * 100.0, 1, false))
    } else {
        format!("{sign}{}", format_value(d.abs(), unit))
    }
}

pub(super) fn fin(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_value_cases() {
        let cases: [(f64, &str, &str); 14] = [
            (0.934, "ratio", "93.4 %"),
            (0.9, "ratio", "90.0 %"),
            (0.0, "ratio", "0.0 %"),
            (1.0, "ratio", "100.0 %"),
            (12345.0, "count", "12,345"),
            (1234567.4, "count", "1,234,567"),
            (-1234.0, "count", "-1,234"),
            (999.0, "count", "999"),
            (7.12345, "score", "7.12"),
            (2.5, "hours", "2.5"),
            (4.0, "mbps", "4"),
            (-0.001, "hours", "0"),
            (1234.5, "per 10,000 customers", "1,234.5"),
            (f64::NAN, "ratio", "—"),
        ];
        for (v, unit, want) in cases {
            assert_eq!(format_value(v, unit), want, "{v} {unit}");
        }
        assert_eq!(signed(-0.05, "ratio"), "−5.0 pp");
        assert_eq!(signed(1500.0, "count"), "+1,500");
    }
}
