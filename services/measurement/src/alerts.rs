//! The periodic sweep: indicators crossing their warning threshold on the current day, and
//! programmes whose verification window has ended, each published once on measurement's feed.
//! It runs on the one replica holding its lease.

use std::time::Duration;

use csm_kit::{feed::Publisher, names, time};
use csm_proto::measurement::v1::{IndicatorAlert, ProgrammeEffectEvaluated};
use prost::Message;
use tokio_util::sync::CancellationToken;

use crate::{
    calendar::{Calendar, Grain},
    catalogue::{self, Catalogue, Entry},
    effects,
    error::Error,
    observe::Dimension,
    series, store,
};

pub struct Sweep {
    pub publisher: Publisher,
    pub calendar: Calendar,
    pub interval: Duration,
    pub clock: time::Clock,
}

impl Sweep {
    pub async fn run(&self, stop: CancellationToken) {
        loop {
            if let Err(error) = self.once().await {
                tracing::warn!("measurement sweep failed, trying again next interval: {error}");
            }
            tokio::select! {
                () = tokio::time::sleep(self.interval) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    pub async fn once(&self) -> Result<(), Error> {
        // Read afresh each time: thresholds may have been changed through another replica.
        let catalogue = catalogue::load(self.publisher.database().reader()).await?;
        let now = self.clock.now_micros();
        for entry in catalogue.entries.iter().filter(|e| e.indicator.warning_threshold.is_some()) {
            self.check_alert(entry, now).await?;
        }
        self.evaluate_ended_programmes(&catalogue, now).await
    }

    /// Worse than the warning threshold: above it when lower is better, below it otherwise.
    fn breached(entry: &Entry, value: f64) -> bool {
        let threshold = entry.indicator.warning_threshold.unwrap_or(f64::NAN);
        if entry.higher_is_better() { value < threshold } else { value > threshold }
    }

    async fn check_alert(&self, entry: &Entry, now: i64) -> Result<(), Error> {
        let db = self.publisher.database();
        let day = self.calendar.day_start(now);
        let today =
            series::over_window(db.reader(), &self.calendar, entry, Dimension::Total, None, (day, day + 1)).await?;
        let previous = match store::get_document(db.reader(), store::kind::ALERT, &entry.indicator.key).await? {
            Some(body) => IndicatorAlert::decode(body.as_slice()).ok(),
            None => None,
        };
        let was_raised = previous.as_ref().is_some_and(|p| p.raised);
        let raised = today.value.is_some_and(|v| Self::breached(entry, v));
        if raised == was_raised {
            return Ok(());
        }
        let alert = IndicatorAlert {
            indicator: names::name_of(names::INDICATORS, &entry.indicator.key),
            period: self.calendar.label(Grain::Day, day),
            value: today.value.unwrap_or(f64::NAN),
            warning_threshold: entry.indicator.warning_threshold.unwrap_or_default(),
            raised,
            owner_department: entry.indicator.owner_department.clone(),
            alert_time: Some(time::timestamp_from_micros(now)),
        };
        let mut uow = self.publisher.begin().await?;
        store::put_document(&*uow, store::kind::ALERT, &entry.indicator.key, alert.encode_to_vec(), now, now, false)
            .await?;
        uow.publish(alert.indicator.clone(), &alert);
        uow.commit().await?;
        tracing::info!(indicator = %alert.indicator, value = alert.value, raised, "indicator alert");
        Ok(())
    }

    async fn evaluate_ended_programmes(&self, catalogue: &Catalogue, now: i64) -> Result<(), Error> {
        let db = self.publisher.database();
        let ended = store::list_documents(db.reader(), store::kind::PROGRAMME, Some((i64::MIN, now + 1))).await?;
        let indicators = effects::default_indicators(catalogue);
        for (programme, body) in ended {
            if store::get_document(db.reader(), store::kind::EFFECT, &programme).await?.is_some() {
                continue;
            }
            let windows = effects::decode(&programme, &body)?;
            let effect = effects::evaluate(db.reader(), &self.calendar, windows, &indicators, now).await?;
            let mut uow = self.publisher.begin().await?;
            let stored =
                store::put_document(&*uow, store::kind::EFFECT, &programme, effect.encode_to_vec(), now, now, true)
                    .await?;
            if stored {
                uow.publish(programme.clone(), &ProgrammeEffectEvaluated { effect: Some(effect) });
                uow.commit().await?;
                tracing::info!(%programme, "programme effect evaluated");
            } else {
                uow.rollback().await?;
            }
        }
        Ok(())
    }
}
