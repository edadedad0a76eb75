//! Rows into the items intake ingests: the columns of each kind of file, their values read in the
//! forms people write them (friendly enum names, local times), and an idempotency key per row so
//! that importing a file again stores nothing twice.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use csm_kit::time;
use csm_proto::intake::v1::{
    Activation, BillDispute, BillingRecord, CreateSurveyAnswerRequest, CreateUsageEventRequest, CustomerProfile, Order,
    QualitySample, SubmitContactRequest, SurveyAnswer, Unsubscription, UsageEvent, ingest_request::Item,
    usage_event::Detail,
};
use sha2::{Digest, Sha256};

use crate::{
    rows::{self, Row},
    schema::{self, EnumNames},
};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Contacts from any channel (complaints open work orders).
    Contacts,
    /// Usage-lifecycle events: orders, activations, bills, bill disputes, quality samples,
    /// unsubscriptions.
    Events,
    /// Survey and callback answers.
    Surveys,
}

/// Each column by its name, with the other names it is known by.
type Columns = &'static [(&'static str, &'static [&'static str])];

const CONTACTS: Columns = &[
    ("request_id", &["id"]),
    ("channel", &[]),
    ("phone", &["phone_number", "msisdn"]),
    ("type", &["contact_type"]),
    ("text", &["content"]),
    ("occurred_at", &["time", "occurred"]),
    ("problem_code", &[]),
    ("segment", &["brand"]),
    ("vip_level", &["vip"]),
    ("region", &[]),
    ("products", &["product"]),
    ("appeal", &[]),
    ("related_work_order", &[]),
];

const EVENTS: Columns = &[
    ("request_id", &["id"]),
    ("kind", &["event"]),
    ("phone", &["phone_number", "msisdn"]),
    ("product", &["product_code"]),
    ("channel", &[]),
    ("occurred_at", &["time", "occurred"]),
    ("order_id", &[]),
    ("success", &[]),
    ("failure_reason", &[]),
    ("period", &[]),
    ("amount_fen", &[]),
    ("dispute_id", &[]),
    ("disputed_amount_fen", &[]),
    ("outcome", &[]),
    ("metric", &[]),
    ("value", &[]),
    ("unit", &[]),
    ("reason", &[]),
];

const SURVEYS: Columns = &[
    ("request_id", &["id"]),
    ("phone", &["phone_number", "msisdn"]),
    ("channel", &[]),
    ("scale", &[]),
    ("score", &[]),
    ("question", &[]),
    ("indicator", &[]),
    ("work_order", &[]),
    ("comment", &[]),
    ("occurred_at", &["time", "occurred"]),
];

const EVENT_KINDS: &[(&str, &[&str])] = &[
    ("order", &[]),
    ("activation", &["activate"]),
    ("billing_record", &["bill", "billing"]),
    ("bill_dispute", &["dispute"]),
    ("quality_sample", &["quality", "kqi"]),
    ("unsubscription", &["unsubscribe"]),
];

const SURVEY_SCALE: EnumNames = EnumNames {
    full_name: "csm.intake.v1.SurveyScale",
    what: "survey scale",
    aliases: &[
        ("likert", "likert_5"),
        ("nps", "score_0_10"),
        ("0_10", "score_0_10"),
        ("100", "score_100"),
        ("csat", "csat_5"),
        ("ces", "ces_7"),
    ],
};

impl Kind {
    fn columns(self) -> Columns {
        match self {
            Kind::Contacts => CONTACTS,
            Kind::Events => EVENTS,
            Kind::Surveys => SURVEYS,
        }
    }

    /// The canonical name of a (normalised) column name, if the kind has it.
    pub fn canonical(self, name: &str) -> Option<&'static str> {
        self.columns().iter().find(|(column, aliases)| *column == name || aliases.contains(&name)).map(|(c, _)| *c)
    }

    /// The columns, for errors and the documentation.
    pub fn column_names(self) -> String {
        self.columns().iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
    }

    /// The item a row asks intake to store, or why it cannot be one.
    pub fn item(self, row: &Row, zone: Tz) -> Result<Item, String> {
        let request_id = row.get("request_id").map_or_else(|| derived_request_id(self, row), str::to_string);
        match self {
            Kind::Contacts => contact(row, request_id, zone).map(Item::Contact),
            Kind::Events => usage_event(row, request_id, zone).map(Item::UsageEvent),
            Kind::Surveys => survey_answer(row, request_id, zone).map(Item::SurveyAnswer),
        }
    }
}

/// A key the same row always gets, so importing a file twice stores each row once.
fn derived_request_id(kind: Kind, row: &Row) -> String {
    let mut fields: Vec<&(String, String)> = row.fields.iter().filter(|(_, v)| !v.is_empty()).collect();
    fields.sort();
    let mut hash = Sha256::new();
    hash.update(format!("{kind:?}"));
    for (column, value) in fields {
        hash.update([0]);
        hash.update(column);
        hash.update([1]);
        hash.update(value);
    }
    let digest = hash.finalize();
    let hex: String = digest.iter().take(20).map(|b| format!("{b:02x}")).collect();
    format!("import-{hex}")
}

fn enum_value(row: &Row, column: &str, names: &EnumNames) -> Result<i32, String> {
    row.get(column).map_or(Ok(0), |v| names.parse(v).map_err(|e| e.to_string()))
}

fn required_enum(row: &Row, column: &str, names: &EnumNames) -> Result<i32, String> {
    row.required(column)?;
    enum_value(row, column, names)
}

fn number<T: std::str::FromStr>(row: &Row, column: &str) -> Result<Option<T>, String> {
    row.get(column).map(|v| v.parse().map_err(|_| format!("{column}: {v:?} is not a number"))).transpose()
}

fn boolean(row: &Row, column: &str) -> Result<bool, String> {
    match row.get(column).map(str::to_ascii_lowercase).as_deref() {
        None | Some("false" | "no" | "n" | "0" | "否") => Ok(false),
        Some("true" | "yes" | "y" | "1" | "是") => Ok(true),
        Some(other) => Err(format!("{column}: {other:?} is neither true nor false")),
    }
}

/// A time as RFC 3339 (`2026-11-03T09:30:00+08:00`), or a local date and time in `zone`
/// (`2026-11-03 09:30`, `2026-11-03 09:30:15`, or a date alone for its midnight).
pub fn parse_time(text: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let naive = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .or_else(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)));
    let naive = naive.ok_or_else(|| {
        format!("{text:?} is not a time: write 2026-11-03T09:30:00+08:00, or 2026-11-03 09:30 in {zone}")
    })?;
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(|| format!("{text:?} does not exist in {zone}"))
}

fn occurred_at(row: &Row, zone: Tz) -> Result<prost_types::Timestamp, String> {
    let text = row.required("occurred_at")?;
    parse_time(text, zone).map(time::to_timestamp).map_err(|e| format!("occurred_at: {e}"))
}

fn text(row: &Row, column: &str) -> String {
    row.get(column).unwrap_or_default().to_string()
}

fn contact(row: &Row, request_id: String, zone: Tz) -> Result<SubmitContactRequest, String> {
    let profile = CustomerProfile {
        segment: text(row, "segment"),
        vip_level: number(row, "vip_level")?.unwrap_or(0),
        region: text(row, "region"),
        products: row
            .get("products")
            .map(|p| p.split([';', '|', ',']).map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect())
            .unwrap_or_default(),
    };
    let has_profile = profile != CustomerProfile::default();
    Ok(SubmitContactRequest {
        request_id,
        channel: required_enum(row, "channel", &schema::CHANNEL)?,
        phone_number: row.required("phone")?.to_string(),
        contact_type: required_enum(row, "type", &schema::CONTACT_TYPE)?,
        text: text(row, "text"),
        occurred_at: Some(occurred_at(row, zone)?),
        problem_code: text(row, "problem_code"),
        customer_profile: has_profile.then_some(profile),
        appeal: enum_value(row, "appeal", &schema::APPEAL_BODY)?,
        related_work_order: text(row, "related_work_order"),
    })
}

fn event_kind(row: &Row) -> Result<&'static str, String> {
    let written = row.required("kind")?;
    let wanted = rows::normalise(written);
    EVENT_KINDS
        .iter()
        .find(|(kind, aliases)| *kind == wanted || aliases.contains(&wanted.as_str()))
        .map(|(k, _)| *k)
        .ok_or_else(|| {
            let accepted: Vec<String> = EVENT_KINDS
                .iter()
                .map(|(k, a)| if a.is_empty() { (*k).to_string() } else { format!("{k} ({})", a.join(", ")) })
                .collect();
            format!("unknown event kind {written:?}; accepted: {}", accepted.join(", "))
        })
}

fn usage_event(row: &Row, request_id: String, zone: Tz) -> Result<CreateUsageEventRequest, String> {
    let detail = match event_kind(row)? {
        "order" => Detail::Order(Order { order_id: text(row, "order_id") }),
        "activation" => Detail::Activation(Activation {
            success: boolean(row, "success")?,
            failure_reason: text(row, "failure_reason"),
        }),
        "billing_record" => Detail::BillingRecord(BillingRecord {
            period: row.required("period")?.to_string(),
            amount_fen: number(row, "amount_fen")?.unwrap_or(0),
        }),
        "bill_dispute" => Detail::BillDispute(BillDispute {
            dispute_id: row.required("dispute_id")?.to_string(),
            period: text(row, "period"),
            disputed_amount_fen: number(row, "disputed_amount_fen")?.unwrap_or(0),
            outcome: enum_value(row, "outcome", &schema::DISPUTE_OUTCOME)?,
        }),
        "quality_sample" => Detail::QualitySample(QualitySample {
            metric: row.required("metric")?.to_string(),
            value: number(row, "value")?.ok_or("value is required")?,
            unit: text(row, "unit"),
        }),
        _ => Detail::Unsubscription(Unsubscription { reason: text(row, "reason") }),
    };
    Ok(CreateUsageEventRequest {
        request_id,
        usage_event: Some(UsageEvent {
            phone_number: row.required("phone")?.to_string(),
            product_code: row.required("product")?.to_string(),
            channel: enum_value(row, "channel", &schema::CHANNEL)?,
            occurred_at: Some(occurred_at(row, zone)?),
            detail: Some(detail),
            ..UsageEvent::default()
        }),
    })
}

fn survey_answer(row: &Row, request_id: String, zone: Tz) -> Result<CreateSurveyAnswerRequest, String> {
    Ok(CreateSurveyAnswerRequest {
        request_id,
        survey_answer: Some(SurveyAnswer {
            phone_number: row.required("phone")?.to_string(),
            channel: enum_value(row, "channel", &schema::CHANNEL)?,
            scale: required_enum(row, "scale", &SURVEY_SCALE)?,
            score: number(row, "score")?.ok_or("score is required")?,
            question: text(row, "question"),
            indicator: text(row, "indicator"),
            work_order: text(row, "work_order"),
            comment: text(row, "comment"),
            occurred_at: Some(occurred_at(row, zone)?),
            ..SurveyAnswer::default()
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(fields: &[(&str, &str)]) -> Row {
        Row {
            line: 2,
            fields: fields.iter().map(|(c, v)| ((*c).to_string(), (*v).to_string())).collect(),
            original: Vec::new(),
        }
    }

    #[test]
    fn local_times_are_read_in_the_operators_zone() {
        let zone: Tz = "Asia/Shanghai".parse().unwrap();
        let at = parse_time("2026-11-03 09:30", zone).unwrap();
        assert_eq!(at.to_rfc3339(), "2026-11-03T01:30:00+00:00");
        assert_eq!(parse_time("2026-11-03T09:30:00+08:00", zone).unwrap(), at);
        assert!(parse_time("yesterday", zone).unwrap_err().contains("2026-11-03 09:30"));
    }

    #[test]
    fn the_same_row_gets_the_same_request_id() {
        let a = row(&[("phone", "13800138000"), ("text", "x")]);
        let b = row(&[("text", "x"), ("phone", "13800138000")]);
        assert_eq!(derived_request_id(Kind::Contacts, &a), derived_request_id(Kind::Contacts, &b));
        assert_ne!(derived_request_id(Kind::Contacts, &a), derived_request_id(Kind::Events, &a));
    }

    #[test]
    fn an_event_kind_is_read_by_its_short_names() {
        assert_eq!(event_kind(&row(&[("kind", "KQI")])).unwrap(), "quality_sample");
        assert!(event_kind(&row(&[("kind", "party")])).unwrap_err().contains("quality_sample (quality, kqi)"));
    }
}
