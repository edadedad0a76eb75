//! Events that are observations as they arrive and never change: survey answers, usage events
//! and high-frequency changes from intake's feed.

use std::sync::Arc;

use csm_kit::{
    feed::{HandleError, carries, decode, time_from_event},
    time,
};
use csm_proto::{
    feed::v1::Event,
    intake::v1::{
        Channel, CustomerProfile, HighFrequencyStatus, HighFrequencyStatusChanged, SurveyAnswered, SurveyScale,
        UsageEventRecorded, usage_event::Detail,
    },
};

use super::{Profile, Update, missing, snake};
use crate::observe::{Dims, Observation, Source, scale_name, score_survey};

pub(super) fn observation(event: &Event) -> Result<Update, HandleError> {
    if carries::<SurveyAnswered>(event) {
        let answered: SurveyAnswered = decode(event)?;
        let answer = answered.survey_answer.ok_or_else(|| missing("survey_answer"))?;
        let at = time::micros(time_from_event(answer.occurred_at.as_ref(), "survey occurred_at")?);
        let scale = SurveyScale::try_from(answer.scale).unwrap_or_default();
        let scored = score_survey(scale, answer.score)
            .ok_or_else(|| HandleError::Reject(format!("score {} is off the {scale:?} scale", answer.score)))?;
        let dims = dims(answered.profile.as_ref(), answer.channel, None);
        let observation = Observation::new(Source::Surveys, at, dims)
            .text("scale", scale_name(scale))
            .text("question", answer.question.as_str())
            .text("indicator", answer.indicator.as_str())
            .number("score", answer.score)
            .number("score100", scored.score100)
            .number("grade", f64::from(scored.grade));
        return Ok(Update::Observe { observation, customer: answer.customer });
    }
    if carries::<UsageEventRecorded>(event) {
        let recorded: UsageEventRecorded = decode(event)?;
        let usage = recorded.usage_event.ok_or_else(|| missing("usage_event"))?;
        let at = time::micros(time_from_event(usage.occurred_at.as_ref(), "usage occurred_at")?);
        let dims = dims(recorded.profile.as_ref(), usage.channel, Some(&usage.product_code));
        let observation = Observation::new(Source::Usage, at, dims);
        let observation = match usage.detail.ok_or_else(|| missing("usage detail"))? {
            Detail::Order(_) => observation.text("type", "order"),
            Detail::Activation(activation) => {
                observation.text("type", "activation").flag("success", activation.success)
            }
            Detail::BillingRecord(bill) => {
                observation.text("type", "billing_record").number("value", bill.amount_fen as f64 / 100.0)
            }
            Detail::BillDispute(dispute) => {
                let outcome = csm_proto::intake::v1::DisputeOutcome::try_from(dispute.outcome).unwrap_or_default();
                observation
                    .text("type", "bill_dispute")
                    .text("outcome", snake(outcome.as_str_name(), "DISPUTE_OUTCOME_"))
                    .number("value", dispute.disputed_amount_fen as f64 / 100.0)
            }
            Detail::QualitySample(sample) => observation
                .text("type", "quality_sample")
                .text("metric", sample.metric.as_str())
                .number("value", sample.value),
            Detail::Unsubscription(_) => observation.text("type", "unsubscription"),
        };
        return Ok(Update::Observe { observation, customer: usage.customer });
    }
    let changed: HighFrequencyStatusChanged = decode(event)?;
    let at = time::micros(time_from_event(changed.change_time.as_ref(), "change_time")?);
    let status = changed.high_frequency.as_ref().map(|h| h.status).unwrap_or_default();
    let status = HighFrequencyStatus::try_from(status).unwrap_or_default();
    let previous = HighFrequencyStatus::try_from(changed.previous_status).unwrap_or_default();
    let dims = dims(changed.profile.as_ref(), 0, None);
    let observation = Observation::new(Source::HighFrequency, at, dims)
        .text("status", snake(status.as_str_name(), "HIGH_FREQUENCY_STATUS_"))
        .flag("entered", status == HighFrequencyStatus::Active && previous != HighFrequencyStatus::Active)
        .flag("left", status != HighFrequencyStatus::Active && previous == HighFrequencyStatus::Active);
    Ok(Update::Observe { observation, customer: changed.customer })
}

fn dims(profile: Option<&CustomerProfile>, channel: i32, product: Option<&str>) -> Arc<Dims> {
    let profile = Profile::of(profile);
    let channel = match Channel::try_from(channel).unwrap_or_default() {
        Channel::Unspecified => String::new(),
        other => snake(other.as_str_name(), "CHANNEL_"),
    };
    Arc::new(Dims {
        region: profile.region.into(),
        segment: profile.segment.into(),
        channel: channel.into(),
        product: product.filter(|p| !p.is_empty()).map_or(profile.product, str::to_string).into(),
        department: "".into(),
        path: Vec::new(),
    })
}
