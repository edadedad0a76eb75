//! Delivering queued notifications: at least once (a notification leaves the queue only after
//! its listener answered 2xx), in order per listener and so per ticket (the listener's oldest
//! first; one that failed waits for its retry and holds back only that listener's later ones),
//! with a pause that doubles after each failure. The queue is in the database, so a restart
//! resumes where delivery stopped; each listener is served by its own task, so one that is down or
//! slow holds up no other.

use std::{collections::HashMap, sync::OnceLock, time::Duration};

use csm_kit::time;
use opentelemetry::{
    KeyValue,
    metrics::{Counter, Histogram},
};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, prelude::Expr};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{
    App,
    config::DeliverySettings,
    store::entity::{listener, notification},
};

struct DeliveryMetrics {
    outcomes: Counter<u64>,
    delay: Histogram<f64>,
}

fn metrics() -> &'static DeliveryMetrics {
    static METRICS: OnceLock<DeliveryMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let meter = csm_kit::metrics::get().meter();
        DeliveryMetrics {
            outcomes: meter
                .u64_counter("csm.tmf.notifications")
                .with_unit("{notification}")
                .with_description("hub notifications by outcome: delivered, failed (to be retried) or dropped")
                .build(),
            delay: meter
                .f64_histogram("csm.tmf.notification.delay")
                .with_unit("s")
                .with_description("time from a change being learned to its notification being delivered")
                .with_boundaries(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0, 300.0, 3600.0])
                .build(),
        }
    })
}

/// Delivers until `stop`: looks for listeners with notifications due whenever new ones are
/// queued, or every `poll_interval`, and starts a task for each that has none running.
pub async fn run(app: App, stop: CancellationToken) {
    let settings = app.settings.delivery.clone();
    let client = match reqwest::Client::builder().timeout(settings.timeout).build() {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "hub delivery cannot start: no HTTP client");
            return;
        }
    };
    let mut running: HashMap<String, JoinHandle<()>> = HashMap::new();
    loop {
        running.retain(|_, task| !task.is_finished());
        match due_listeners(&app).await {
            Ok(due) => {
                for id in due {
                    if running.contains_key(&id) {
                        continue;
                    }
                    let task = deliver_to(app.clone(), client.clone(), id.clone(), stop.clone());
                    running.insert(id, tokio::spawn(task));
                }
            }
            Err(error) => tracing::warn!(%error, "looking for hub notifications to deliver"),
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = app.queued.notified() => {}
            () = tokio::time::sleep(settings.poll_interval) => {}
        }
    }
    for (_, task) in running {
        let _ = task.await;
    }
}

async fn due_listeners(app: &App) -> Result<Vec<String>, DbErr> {
    notification::Entity::find()
        .select_only()
        .column(notification::Column::ListenerId)
        .filter(notification::Column::NextAttemptAt.lte(time::now_micros()))
        .group_by(notification::Column::ListenerId)
        .into_tuple()
        .all(app.db.reader())
        .await
}

/// The pause before attempt `attempts + 1`: `retry_initial` doubled per failure, at most `retry_max`.
fn backoff(settings: &DeliverySettings, attempts: i32) -> Duration {
    let factor = 2u32.saturating_pow(u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(20));
    settings.retry_initial.saturating_mul(factor).min(settings.retry_max)
}

/// Sends one listener's due notifications oldest first, until none is due or one fails.
async fn deliver_to(app: App, client: reqwest::Client, listener_id: String, stop: CancellationToken) {
    let span = tracing::info_span!("deliver notifications", listener = %listener_id, otel.kind = "producer");
    let outcome = async {
        let settings = &app.settings.delivery;
        let Some(listener) = listener::Entity::find_by_id(listener_id.clone()).one(app.db.reader()).await? else {
            notification::Entity::delete_many()
                .filter(notification::Column::ListenerId.eq(&listener_id))
                .exec(app.db.writer())
                .await?;
            return Ok::<_, DbErr>(());
        };
        while !stop.is_cancelled() {
            let batch = notification::Entity::find()
                .filter(notification::Column::ListenerId.eq(&listener_id))
                .order_by_asc(notification::Column::Id)
                .limit(u64::from(settings.batch.max(1)))
                .all(app.db.reader())
                .await?;
            if batch.is_empty() {
                return Ok(());
            }
            for item in batch {
                let now = time::now_micros();
                if item.next_attempt_at > now {
                    return Ok(());
                }
                if now - item.created_at > time::duration_micros(settings.give_up_after) {
                    tracing::warn!(notification = item.id, ticket = %item.ticket_id, "notification dropped: undelivered for too long");
                    metrics().outcomes.add(1, &[KeyValue::new("outcome", "dropped")]);
                    notification::Entity::delete_by_id(item.id).exec(app.db.writer()).await?;
                    continue;
                }
                let sent = client
                    .post(&listener.callback)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(item.body.clone())
                    .send()
                    .await;
                let failure = match sent {
                    Ok(response) if response.status().is_success() => None,
                    Ok(response) => Some(format!("answered {}", response.status())),
                    Err(error) => Some(error.to_string()),
                };
                match failure {
                    None => {
                        notification::Entity::delete_by_id(item.id).exec(app.db.writer()).await?;
                        let delay = (time::now_micros() - item.created_at) as f64 / 1e6;
                        metrics().delay.record(delay, &[]);
                        metrics().outcomes.add(1, &[KeyValue::new("outcome", "delivered")]);
                    }
                    Some(error) => {
                        let attempts = item.attempts.saturating_add(1);
                        let next = now + time::duration_micros(backoff(settings, attempts));
                        tracing::info!(notification = item.id, callback = %listener.callback, attempts, %error, "notification not delivered; will retry");
                        metrics().outcomes.add(1, &[KeyValue::new("outcome", "failed")]);
                        notification::Entity::update_many()
                            .col_expr(notification::Column::Attempts, Expr::value(attempts))
                            .col_expr(notification::Column::NextAttemptAt, Expr::value(next))
                            .col_expr(notification::Column::LastError, Expr::value(Some(error)))
                            .filter(notification::Column::Id.eq(item.id))
                            .exec(app.db.writer())
                            .await?;
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }
    .instrument(span)
    .await;
    if let Err(error) = outcome {
        tracing::warn!(%error, listener = %listener_id, "hub delivery interrupted");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_doubles_from_the_initial_one_up_to_the_most() {
        let settings = DeliverySettings {
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            ..DeliverySettings::default()
        };
        let pauses: Vec<u64> = (1..=8).map(|n| backoff(&settings, n).as_secs()).collect();
        assert_eq!(pauses, vec![1, 2, 4, 8, 16, 32, 60, 60]);
    }
}
