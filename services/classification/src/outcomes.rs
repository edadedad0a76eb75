//! Learning from outcomes (闭环学习): classification follows recovery's feed to learn which
//! customers turned out dissatisfied and which were recovered, and keeps the latest of each
//! customer, with the features classification knew of the customer then, as a labelled example
//! for the dissatisfaction-risk model (`training::outcomes` retrains from them).
//!
//! Following a feed downstream is an exception to the one-way flow, made for learning only: no
//! write of classification waits for recovery, and with `upstream.recovery.url` empty nothing is
//! followed and the risk model learns from the examples callers send alone.
//!
//! What teaches what:
//!
//! | event | label | source |
//! |---|---|---|
//! | `CareTaskCompleted`, outcome still dissatisfied | dissatisfied | `care_still_dissatisfied` |
//! | `CareTaskCompleted`, outcome repaired | recovered | `care_repaired` |
//! | `DetractorFollowUp` as first published (not yet reached, closed or recovered) | dissatisfied | `detractor_answer` |
//! | `DetractorFollowUp` carrying `recover_time` | recovered | `detractor_recovered` |
//! | `CaseReopened`, any cause but an agent's own reopening | dissatisfied | `case_reopened` |
//! | `CaseOpened` of an appeal (to the regulator or a consumer association) | dissatisfied | `appeal` |
//! | `AppealRiskRaised` past the answer due time | dissatisfied | `appeal_past_due` |
//! | `CallbackRecorded`, satisfied or basically satisfied | recovered | `callback_satisfied` |
//!
//! A care outcome "contacted" teaches nothing: it says the customer was reached, not how they
//! feel (recovery itself calls a customer recovered only when a later answer is no longer
//! dissatisfied). Nor does "no action", a detractor follow-up that only moved (reached, closed),
//! a dissatisfied callback (its reopening of the case teaches it), or an agent's reopening.
//!
//! Each customer keeps the label of the latest event (by its time, then its sequence on
//! recovery's feed); an event no later than the one stored, the same event again included,
//! changes nothing.

use std::sync::Arc;

use csm_kit::{
    Masked,
    feed::{EventHandler, HandleError, UnitOfWork, carries, decode, time_from_event},
    metrics::{self, KeyValue},
    time,
};
use csm_proto::{
    feed::v1::Event,
    intake::v1::Channel,
    recovery::v1::{
        AppealRiskRaised, CallbackOutcome, CallbackRecorded, CareOutcome, CareTaskCompleted, CaseOpened, CaseReopened,
        DetractorFollowUp, ReopenCause,
    },
};
use prost::Name;

use crate::{
    model::risk::Features,
    store::{customers, outcomes, risk_outcome},
    training::AutoRetrain,
};

/// What an event says of a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub phone: String,
    pub dissatisfied: bool,
    pub source: &'static str,
}

impl Outcome {
    fn new(phone: &str, dissatisfied: bool, source: &'static str) -> Option<Self> {
        let phone = phone.trim();
        (!phone.is_empty()).then(|| Self { phone: phone.to_string(), dissatisfied, source })
    }

    pub fn label(&self) -> &'static str {
        if self.dissatisfied { "dissatisfied" } else { "recovered" }
    }
}

/// The payload types that can teach an outcome.
pub fn event_types() -> Vec<String> {
    vec![
        CareTaskCompleted::full_name(),
        DetractorFollowUp::full_name(),
        CaseReopened::full_name(),
        CaseOpened::full_name(),
        AppealRiskRaised::full_name(),
        CallbackRecorded::full_name(),
    ]
}

/// The outcome `event` teaches, if any (see the table above).
pub fn outcome_of(event: &Event) -> Result<Option<Outcome>, HandleError> {
    if carries::<CareTaskCompleted>(event) {
        let Some(task) = decode::<CareTaskCompleted>(event)?.care_task else { return Ok(None) };
        return Ok(match task.outcome() {
            CareOutcome::StillDissatisfied => Outcome::new(&task.phone_number, true, "care_still_dissatisfied"),
            CareOutcome::Repaired => Outcome::new(&task.phone_number, false, "care_repaired"),
            CareOutcome::Contacted | CareOutcome::NoAction | CareOutcome::Unspecified => None,
        });
    }
    if carries::<DetractorFollowUp>(event) {
        let follow_up = decode::<DetractorFollowUp>(event)?;
        return Ok(if follow_up.recover_time.is_some() {
            Outcome::new(&follow_up.phone_number, false, "detractor_recovered")
        } else if follow_up.contact_time.is_none() && follow_up.close_time.is_none() {
            Outcome::new(&follow_up.phone_number, true, "detractor_answer")
        } else {
            None
        });
    }
    if carries::<CaseReopened>(event) {
        let reopened = decode::<CaseReopened>(event)?;
        let by_customer = reopened.cause() != ReopenCause::Manual;
        let Some(case) = reopened.case.filter(|_| by_customer) else { return Ok(None) };
        return Ok(Outcome::new(&case.phone_number, true, "case_reopened"));
    }
    if carries::<CaseOpened>(event) {
        let appeals = [Channel::RegulatorAppeal.as_str_name(), Channel::ConsumerAssociationAppeal.as_str_name()];
        let appeal = decode::<CaseOpened>(event)?.case.filter(|case| appeals.contains(&case.channel.as_str()));
        let Some(case) = appeal else { return Ok(None) };
        return Ok(Outcome::new(&case.phone_number, true, "appeal"));
    }
    if carries::<AppealRiskRaised>(event) {
        let raised = decode::<AppealRiskRaised>(event)?;
        let Some(case) = raised.case.filter(|_| raised.past_due) else { return Ok(None) };
        return Ok(Outcome::new(&case.phone_number, true, "appeal_past_due"));
    }
    if carries::<CallbackRecorded>(event) {
        let recorded = decode::<CallbackRecorded>(event)?;
        let satisfied = matches!(recorded.outcome(), CallbackOutcome::Satisfied | CallbackOutcome::BasicallySatisfied);
        let Some(case) = recorded.case.filter(|_| satisfied) else { return Ok(None) };
        return Ok(Outcome::new(&case.phone_number, false, "callback_satisfied"));
    }
    Ok(None)
}

/// Keeps the latest outcome of each customer from recovery's feed.
#[derive(Debug, Clone)]
pub struct OutcomeHandler {
    auto_retrain: Option<Arc<AutoRetrain>>,
}

impl OutcomeHandler {
    /// `auto_retrain`, when given, queues a retraining once enough new outcomes were learned.
    pub fn new(auto_retrain: Option<Arc<AutoRetrain>>) -> Self {
        Self { auto_retrain }
    }
}

impl EventHandler for OutcomeHandler {
    fn work(&self) -> &'static str {
        "learn"
    }

    fn event_types(&self) -> Vec<String> {
        event_types()
    }

    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        let Some(outcome) = outcome_of(event)? else { return Ok(()) };
        let labelled_at = time::micros(time_from_event(event.occurred_at.as_ref(), "occurred_at")?);
        let sequence =
            i64::try_from(event.sequence).map_err(|_| HandleError::Reject("sequence out of range".into()))?;
        if let Some(stored) = outcomes::of(&**uow, &outcome.phone).await?
            && (stored.labelled_at, stored.sequence) >= (labelled_at, sequence)
        {
            tracing::debug!(phone = %Masked(&outcome.phone), source = outcome.source, "outcome already known");
            return Ok(());
        }
        let features = match customers::features_of(&**uow, &outcome.phone).await? {
            Some(row) => row.features,
            None => serde_json::to_string(&Features::default()).map_err(|e| HandleError::Reject(e.to_string()))?,
        };
        let now = time::now_micros();
        let row = risk_outcome::Model {
            phone_number: outcome.phone.clone(),
            dissatisfied: outcome.dissatisfied,
            source: outcome.source.to_string(),
            subject: event.subject.clone(),
            sequence,
            labelled_at,
            features,
            learned_at: now,
        };
        outcomes::save(&**uow, row).await?;
        let labels = [KeyValue::new("label", outcome.label()), KeyValue::new("source", outcome.source)];
        metrics::get().outcomes_learned.add(1, &labels);
        tracing::info!(phone = %Masked(&outcome.phone), label = outcome.label(), source = outcome.source, "outcome learned");
        if let Some(auto) = &self.auto_retrain {
            auto.after_outcome(uow, now).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use csm_proto::recovery::v1::{CareTask, Case, DetractorAnswer};

    use super::*;

    fn event<M: Name>(payload: &M) -> Event {
        Event { sequence: 7, payload: Some(prost_types::Any::from_msg(payload).unwrap()), ..Event::default() }
    }

    fn case(phone: &str, channel: Channel) -> Option<Case> {
        Some(Case { phone_number: phone.into(), channel: channel.as_str_name().into(), ..Case::default() })
    }

    fn care(outcome: CareOutcome) -> Event {
        let task = CareTask { phone_number: "13800000001".into(), outcome: outcome as i32, ..CareTask::default() };
        event(&CareTaskCompleted { care_task: Some(task) })
    }

    fn taught(event: &Event) -> Option<(bool, &'static str)> {
        outcome_of(event).unwrap().map(|o| (o.dissatisfied, o.source))
    }

    #[test]
    fn care_outcomes_teach_only_a_verdict() {
        assert_eq!(taught(&care(CareOutcome::StillDissatisfied)), Some((true, "care_still_dissatisfied")));
        assert_eq!(taught(&care(CareOutcome::Repaired)), Some((false, "care_repaired")));
        assert_eq!(taught(&care(CareOutcome::Contacted)), None);
        assert_eq!(taught(&care(CareOutcome::NoAction)), None);
        let outcome = outcome_of(&care(CareOutcome::Repaired)).unwrap().unwrap();
        assert_eq!((outcome.phone.as_str(), outcome.label()), ("13800000001", "recovered"));
    }

    #[test]
    fn a_detractor_is_dissatisfied_when_first_seen_and_recovered_by_a_later_answer() {
        let now = Some(csm_kit::time::timestamp_from_micros(1));
        let first = DetractorFollowUp {
            answer: Some(DetractorAnswer::default()),
            phone_number: "13800000002".into(),
            ..DetractorFollowUp::default()
        };
        assert_eq!(taught(&event(&first)), Some((true, "detractor_answer")));
        let reached = DetractorFollowUp { contact_time: now, ..first.clone() };
        assert_eq!(taught(&event(&reached)), None, "moving the loop on says nothing new");
        let closed = DetractorFollowUp { close_time: now, ..reached.clone() };
        assert_eq!(taught(&event(&closed)), None);
        let recovered = DetractorFollowUp { recover_time: now, ..closed };
        assert_eq!(taught(&event(&recovered)), Some((false, "detractor_recovered")));
    }

    #[test]
    fn reopenings_appeals_and_callbacks() {
        for cause in [ReopenCause::RepeatOrder, ReopenCause::DissatisfiedCallback, ReopenCause::DetractorAnswer] {
            let reopened = CaseReopened {
                case: case("13800000003", Channel::HotlineAgent),
                cause: cause as i32,
                ..Default::default()
            };
            assert_eq!(taught(&event(&reopened)), Some((true, "case_reopened")), "{cause:?}");
        }
        let manual = CaseReopened {
            case: case("13800000003", Channel::HotlineAgent),
            cause: ReopenCause::Manual as i32,
            ..Default::default()
        };
        assert_eq!(taught(&event(&manual)), None);

        for channel in [Channel::RegulatorAppeal, Channel::ConsumerAssociationAppeal] {
            let opened = CaseOpened { case: case("13800000004", channel) };
            assert_eq!(taught(&event(&opened)), Some((true, "appeal")));
        }
        assert_eq!(taught(&event(&CaseOpened { case: case("13800000004", Channel::Wechat) })), None);

        let risk = |past_due| AppealRiskRaised {
            case: case("13800000005", Channel::HotlineAgent),
            past_due,
            ..Default::default()
        };
        assert_eq!(taught(&event(&risk(true))), Some((true, "appeal_past_due")));
        assert_eq!(taught(&event(&risk(false))), None, "a warning before the due time is no outcome yet");

        let callback = |outcome: CallbackOutcome| CallbackRecorded {
            case: case("13800000006", Channel::HotlineAgent),
            outcome: outcome as i32,
            within_due_time: true,
        };
        assert_eq!(taught(&event(&callback(CallbackOutcome::Satisfied))), Some((false, "callback_satisfied")));
        assert_eq!(taught(&event(&callback(CallbackOutcome::BasicallySatisfied))), Some((false, "callback_satisfied")));
        assert_eq!(taught(&event(&callback(CallbackOutcome::Dissatisfied))), None);
        assert_eq!(taught(&event(&callback(CallbackOutcome::Unreachable))), None);
    }

    /// The handler over a fresh database, applying events as the feed consumer does: each in a
    /// transaction of its own.
    struct Learner {
        publisher: csm_kit::feed::Publisher,
        path: std::path::PathBuf,
    }

    impl Learner {
        async fn new() -> Self {
            let path = std::env::temp_dir().join(format!("csm-outcomes-{}.db", uuid::Uuid::new_v4()));
            let settings = csm_kit::config::DatabaseSettings::sqlite(&path);
            let db = csm_kit::Database::open::<crate::store::migration::Migrator>(&settings).await.unwrap();
            Self { publisher: csm_kit::feed::Publisher::new(db, "classification").await.unwrap(), path }
        }

        async fn apply(&self, event: &Event) {
            let mut uow = self.publisher.begin().await.unwrap();
            OutcomeHandler::new(None).handle(&mut uow, event).await.unwrap();
            uow.commit().await.unwrap();
        }

        async fn stored(&self) -> risk_outcome::Model {
            outcomes::of(self.publisher.database().reader(), "13800000001").await.unwrap().unwrap()
        }

        async fn remove(self) {
            self.publisher.database().clone().close().await;
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
            }
        }
    }

    fn at(event: Event, sequence: u64, micros: i64) -> Event {
        Event {
            sequence,
            occurred_at: Some(csm_kit::time::timestamp_from_micros(micros)),
            subject: format!("careTasks/{sequence}"),
            ..event
        }
    }

    #[tokio::test]
    async fn the_latest_outcome_stays_and_a_replayed_or_older_event_changes_nothing() {
        let learner = Learner::new().await;
        let mut features = Features::default();
        features.numeric.insert("kqi.call_drop_rate".into(), 4.5);
        let row = crate::store::customer_features::Model {
            phone_number: "13800000001".into(),
            customer: String::new(),
            features: serde_json::to_string(&features).unwrap(),
            updated_at: 1,
            score: None,
            flagged_at: None,
        };
        customers::save_all_features(learner.publisher.database().writer(), vec![row]).await.unwrap();

        learner.apply(&at(care(CareOutcome::StillDissatisfied), 10, 1_000)).await;
        let first = learner.stored().await;
        assert!(first.dissatisfied);
        assert_eq!((first.source.as_str(), first.subject.as_str()), ("care_still_dissatisfied", "careTasks/10"));
        assert_eq!(serde_json::from_str::<Features>(&first.features).unwrap(), features, "the features then");

        // The features move on; the same event again, and an older one, change nothing.
        let moved = crate::store::customer_features::Model {
            features: "{\"numeric\":{},\"categorical\":{}}".into(),
            ..customers::features_of(learner.publisher.database().reader(), "13800000001").await.unwrap().unwrap()
        };
        customers::save_all_features(learner.publisher.database().writer(), vec![moved]).await.unwrap();
        learner.apply(&at(care(CareOutcome::StillDissatisfied), 10, 1_000)).await;
        learner.apply(&at(care(CareOutcome::Repaired), 9, 900)).await;
        assert_eq!(learner.stored().await, first);

        learner.apply(&at(care(CareOutcome::Repaired), 11, 2_000)).await;
        let later = learner.stored().await;
        assert!(!later.dissatisfied);
        assert_eq!((later.source.as_str(), later.sequence, later.labelled_at), ("care_repaired", 11, 2_000));
        assert_eq!(serde_json::from_str::<Features>(&later.features).unwrap(), Features::default());
        assert_eq!(outcomes::counts(learner.publisher.database().reader()).await.unwrap(), (1, 0));
        learner.remove().await;
    }

    #[test]
    fn an_event_without_a_phone_number_teaches_nothing_and_a_broken_one_is_rejected() {
        let mut blank = CaseReopened { case: case("  ", Channel::HotlineAgent), ..Default::default() };
        blank.cause = ReopenCause::RepeatOrder as i32;
        assert_eq!(taught(&event(&blank)), None);
        let mut broken = care(CareOutcome::Repaired);
        if let Some(any) = &mut broken.payload {
            any.value = vec![0xff, 0xff];
        }
        assert!(matches!(outcome_of(&broken), Err(HandleError::Reject(_))));
    }
}
