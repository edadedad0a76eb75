//! Usage-lifecycle events, product-lifecycle events and survey answers.

use chrono::{DateTime, Utc};
use csm_kit::{error::Violations, names, time};
use csm_proto::intake::v1::{
    Channel, CreateProductEventRequest, CreateSurveyAnswerRequest, CreateUsageEventRequest, DisputeOutcome,
    ProductEvent, ProductStage, SurveyAnswer, SurveyScale, UsageEvent, usage_event::Detail,
};

use super::{Rules, code, fingerprint, free_text, key};

const MAX_REASON_CHARS: usize = 500;
const MAX_COMMENT_CHARS: usize = 2000;

#[derive(Debug, Clone, PartialEq)]
pub struct NewUsageEvent {
    pub request_id: Option<String>,
    pub fingerprint: String,
    /// Normalised; `name`, `customer` and `create_time` are set when stored.
    pub event: UsageEvent,
    /// The kind of detail, as stored: "order", "activation", ...
    pub kind: &'static str,
    pub occurred_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewProductEvent {
    pub request_id: Option<String>,
    pub fingerprint: String,
    pub event: ProductEvent,
    pub occurred_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewSurveyAnswer {
    pub request_id: Option<String>,
    pub fingerprint: String,
    pub answer: SurveyAnswer,
    pub work_order_id: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

/// A billing period "YYYY-MM".
fn period(field: &str, raw: &str, violations: &mut Violations) {
    let valid = raw.len() == 7
        && raw.as_bytes().get(4) == Some(&b'-')
        && raw[..4].parse::<u16>().is_ok()
        && raw[5..].parse::<u8>().is_ok_and(|m| (1..=12).contains(&m));
    if !valid {
        violations.add(field, "a month written YYYY-MM");
    }
}

fn channel(raw: i32, violations: &mut Violations) -> Channel {
    match Channel::try_from(raw) {
        Ok(channel) => channel,
        Err(_) => {
            violations.add("channel", format!("unknown channel {raw}"));
            Channel::Unspecified
        }
    }
}

impl Rules {
    pub fn usage_event(
        &self,
        request: &CreateUsageEventRequest,
        now: DateTime<Utc>,
    ) -> Result<NewUsageEvent, Violations> {
        let mut v = Violations::new();
        let request_id = names::request_id(&mut v, "request_id", &request.request_id).map(str::to_string);
        let Some(given) = request.usage_event.as_ref() else {
            v.add("usage_event", "required");
            return Err(v);
        };
        let mut event = given.clone();
        event.phone_number = self.phone("usage_event.phone_number", &given.phone_number, &mut v);
        event.product_code = code("usage_event.product_code", &given.product_code, false, &mut v).unwrap_or_default();
        event.channel = channel(given.channel, &mut v) as i32;
        let occurred_at = self.occurred_at("usage_event.occurred_at", given.occurred_at.as_ref(), now, &mut v);
        event.name.clear();
        event.customer.clear();
        event.create_time = None;
        let kind = match event.detail.as_mut() {
            None => {
                v.add(
                    "usage_event.detail",
                    "required: an order, activation, billing record, bill dispute, quality sample or unsubscription",
                );
                ""
            }
            Some(Detail::Order(order)) => {
                order.order_id = code("usage_event.order.order_id", &order.order_id, false, &mut v).unwrap_or_default();
                "order"
            }
            Some(Detail::Activation(activation)) => {
                activation.failure_reason = free_text(
                    "usage_event.activation.failure_reason",
                    &activation.failure_reason,
                    MAX_REASON_CHARS,
                    &mut v,
                );
                if !activation.success && activation.failure_reason.is_empty() {
                    v.add("usage_event.activation.failure_reason", "required when activation failed");
                }
                "activation"
            }
            Some(Detail::BillingRecord(record)) => {
                period("usage_event.billing_record.period", &record.period, &mut v);
                if record.amount_fen < 0 {
                    v.add("usage_event.billing_record.amount_fen", "must not be negative");
                }
                "billing_record"
            }
            Some(Detail::BillDispute(dispute)) => {
                dispute.dispute_id =
                    code("usage_event.bill_dispute.dispute_id", &dispute.dispute_id, true, &mut v).unwrap_or_default();
                period("usage_event.bill_dispute.period", &dispute.period, &mut v);
                if dispute.disputed_amount_fen < 0 {
                    v.add("usage_event.bill_dispute.disputed_amount_fen", "must not be negative");
                }
                match DisputeOutcome::try_from(dispute.outcome) {
                    Ok(DisputeOutcome::Unspecified) => dispute.outcome = DisputeOutcome::Pending as i32,
                    Ok(_) => {}
                    Err(_) => v.add("usage_event.bill_dispute.outcome", format!("unknown outcome {}", dispute.outcome)),
                }
                "bill_dispute"
            }
            Some(Detail::QualitySample(sample)) => {
                sample.metric =
                    key("usage_event.quality_sample.metric", &sample.metric, true, &mut v).unwrap_or_default();
                if !sample.value.is_finite() {
                    v.add("usage_event.quality_sample.value", "must be a finite number");
                }
                sample.unit = free_text("usage_event.quality_sample.unit", &sample.unit, 16, &mut v);
                "quality_sample"
            }
            Some(Detail::Unsubscription(unsubscription)) => {
                unsubscription.reason =
                    free_text("usage_event.unsubscription.reason", &unsubscription.reason, MAX_REASON_CHARS, &mut v);
                "unsubscription"
            }
        };
        v.into_result()?;
        let occurred_at = occurred_at.ok_or_else(|| Violations::one("usage_event.occurred_at", "required"))?;
        event.occurred_at = Some(time::to_timestamp(occurred_at));
        Ok(NewUsageEvent {
            request_id,
            fingerprint: fingerprint(request, |r| r.request_id.clear()),
            event,
            kind,
            occurred_at,
        })
    }

    pub fn product_event(
        &self,
        request: &CreateProductEventRequest,
        now: DateTime<Utc>,
    ) -> Result<NewProductEvent, Violations> {
        let mut v = Violations::new();
        let request_id = names::request_id(&mut v, "request_id", &request.request_id).map(str::to_string);
        let Some(given) = request.product_event.as_ref() else {
            v.add("product_event", "required");
            return Err(v);
        };
        let mut event = given.clone();
        event.product_code = code("product_event.product_code", &given.product_code, true, &mut v).unwrap_or_default();
        if matches!(ProductStage::try_from(given.stage), Ok(ProductStage::Unspecified) | Err(_)) {
            v.add("product_event.stage", format!("unknown stage {}; use one of the ProductStage values", given.stage));
        }
        if given.notice_days < 0 {
            v.add("product_event.notice_days", "must not be negative");
        }
        event.note = free_text("product_event.note", &given.note, MAX_COMMENT_CHARS, &mut v);
        let occurred_at = self.occurred_at("product_event.occurred_at", given.occurred_at.as_ref(), now, &mut v);
        v.into_result()?;
        let occurred_at = occurred_at.ok_or_else(|| Violations::one("product_event.occurred_at", "required"))?;
        event.name.clear();
        event.create_time = None;
        event.occurred_at = Some(time::to_timestamp(occurred_at));
        Ok(NewProductEvent {
            request_id,
            fingerprint: fingerprint(request, |r| r.request_id.clear()),
            event,
            occurred_at,
        })
    }

    pub fn survey_answer(
        &self,
        request: &CreateSurveyAnswerRequest,
        now: DateTime<Utc>,
    ) -> Result<NewSurveyAnswer, Violations> {
        let mut v = Violations::new();
        let request_id = names::request_id(&mut v, "request_id", &request.request_id).map(str::to_string);
        let Some(given) = request.survey_answer.as_ref() else {
            v.add("survey_answer", "required");
            return Err(v);
        };
        let mut answer = given.clone();
        answer.phone_number = self.phone("survey_answer.phone_number", &given.phone_number, &mut v);
        answer.channel = channel(given.channel, &mut v) as i32;
        let scale = SurveyScale::try_from(given.scale).unwrap_or(SurveyScale::Unspecified);
        let range = match scale {
            SurveyScale::Unspecified => {
                v.add(
                    "survey_answer.scale",
                    format!("unknown scale {}; use one of the SurveyScale values", given.scale),
                );
                None
            }
            SurveyScale::Likert5 | SurveyScale::Csat5 => Some((1.0, 5.0, true)),
            SurveyScale::Score010 => Some((0.0, 10.0, true)),
            SurveyScale::Score100 => Some((0.0, 100.0, false)),
            SurveyScale::Ces7 => Some((1.0, 7.0, true)),
        };
        if let Some((low, high, whole)) = range {
            let score = given.score;
            if !score.is_finite() || score < low || score > high || (whole && score.fract() != 0.0) {
                let kind = if whole { "a whole number" } else { "a number" };
                v.add("survey_answer.score", format!("{kind} from {low} to {high} on {}", scale.as_str_name()));
            }
        }
        answer.question = key("survey_answer.question", &given.question, true, &mut v).unwrap_or_default();
        answer.indicator = key("survey_answer.indicator", &given.indicator, false, &mut v).unwrap_or_default();
        let work_order_id = match given.work_order.trim() {
            "" => None,
            name => match names::id_in("survey_answer.work_order", name, names::WORK_ORDERS) {
                Ok(id) => Some(id.to_string()),
                Err(e) => {
                    v.merge(e);
                    None
                }
            },
        };
        answer.comment = free_text("survey_answer.comment", &given.comment, MAX_COMMENT_CHARS, &mut v);
        let occurred_at = self.occurred_at("survey_answer.occurred_at", given.occurred_at.as_ref(), now, &mut v);
        v.into_result()?;
        let occurred_at = occurred_at.ok_or_else(|| Violations::one("survey_answer.occurred_at", "required"))?;
        answer.name.clear();
        answer.customer.clear();
        answer.create_time = None;
        answer.occurred_at = Some(time::to_timestamp(occurred_at));
        Ok(NewSurveyAnswer {
            request_id,
            fingerprint: fingerprint(request, |r| r.request_id.clear()),
            answer,
            work_order_id,
            occurred_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use csm_proto::intake::v1::{Activation, BillingRecord, QualitySample};

    use super::*;
    use crate::config::IntakeSettings;

    fn rules() -> Rules {
        Rules::new(&IntakeSettings::default()).unwrap()
    }

    fn usage(detail: Detail) -> CreateUsageEventRequest {
        CreateUsageEventRequest {
            request_id: "u-1".into(),
            usage_event: Some(UsageEvent {
                phone_number: "13800138000".into(),
                product_code: "FTTH-1000M".into(),
                occurred_at: Some(time::to_timestamp(Utc::now())),
                detail: Some(detail),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn usage_details_are_checked() {
        let sample = Detail::QualitySample(QualitySample {
            metric: "Broadband_Speed_Mbps".into(),
            value: 87.5,
            unit: "Mbps".into(),
        });
        let event = rules().usage_event(&usage(sample), Utc::now()).unwrap();
        assert_eq!(event.kind, "quality_sample");
        let Some(Detail::QualitySample(sample)) = event.event.detail else { panic!() };
        assert_eq!(sample.metric, "broadband_speed_mbps");

        let failed = Detail::Activation(Activation { success: false, failure_reason: " ".into() });
        let v = rules().usage_event(&usage(failed), Utc::now()).unwrap_err();
        assert_eq!(v.fields().collect::<Vec<_>>(), vec!["usage_event.activation.failure_reason"]);
        let bill = Detail::BillingRecord(BillingRecord { period: "2026-13".into(), amount_fen: -1 });
        let v = rules().usage_event(&usage(bill), Utc::now()).unwrap_err();
        assert_eq!(v.fields().count(), 2);
        let nan = Detail::QualitySample(QualitySample { metric: "x".into(), value: f64::NAN, unit: String::new() });
        assert!(rules().usage_event(&usage(nan), Utc::now()).is_err());
    }

    fn answer(scale: SurveyScale, score: f64) -> CreateSurveyAnswerRequest {
        CreateSurveyAnswerRequest {
            request_id: String::new(),
            survey_answer: Some(SurveyAnswer {
                phone_number: "13800138000".into(),
                scale: scale as i32,
                score,
                question: "overall".into(),
                occurred_at: Some(time::to_timestamp(Utc::now())),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn scores_stay_on_their_scale() {
        let r = rules();
        let ok = |scale, score| r.survey_answer(&answer(scale, score), Utc::now()).is_ok();
        assert!(ok(SurveyScale::Likert5, 1.0) && ok(SurveyScale::Likert5, 5.0));
        assert!(!ok(SurveyScale::Likert5, 0.0) && !ok(SurveyScale::Likert5, 6.0) && !ok(SurveyScale::Likert5, 4.5));
        assert!(ok(SurveyScale::Score010, 0.0) && ok(SurveyScale::Score010, 10.0) && !ok(SurveyScale::Score010, 11.0));
        assert!(ok(SurveyScale::Score100, 68.22) && !ok(SurveyScale::Score100, 100.5));
        assert!(ok(SurveyScale::Ces7, 7.0) && !ok(SurveyScale::Ces7, 0.0));
        assert!(!ok(SurveyScale::Unspecified, 3.0));
    }
}
