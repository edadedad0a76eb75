//! Marks active high-frequency complainants (高频次投诉客户) inactive once they have not complained
//! for the activity period ([`Rule::active_since`]). Time passing changes the status without any
//! event arriving, so it is checked periodically, on one replica at a time. Each round writes its
//! changes and their HighFrequencyStatusChanged events in transactions of its own (a few hundred
//! customers each), not through the group-commit writer: nothing is submitted, so nothing waits
//! on a shared commit.

use std::time::Duration;

use csm_kit::{feed::Publisher, time};
use csm_proto::{StoredEnum, intake::v1::HighFrequencyStatus};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
};
use tokio_util::sync::CancellationToken;

use crate::{
    high_frequency::{Rule, status_changed},
    store::customer,
};

/// Customers checked per transaction.
const BATCH: u64 = 500;

/// Runs until `stop`, checking every `interval`.
pub async fn run(publisher: Publisher, rule: Rule, interval: Duration, stop: CancellationToken) {
    loop {
        match sweep(&publisher, &rule).await {
            Ok(0) => {}
            Ok(changed) => tracing::info!(changed, "high-frequency complainants became inactive"),
            Err(error) => tracing::warn!(%error, "high-frequency sweep failed; retrying next round"),
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// Marks inactive every active complainant whose last complaint is older than the activity period;
/// returns how many changed.
pub async fn sweep(publisher: &Publisher, rule: &Rule) -> Result<usize, DbErr> {
    let mut changed = 0;
    loop {
        let now = time::now_micros();
        let mut uow = publisher.begin().await?;
        let stale = customer::Entity::find()
            .filter(customer::Column::HfStatus.eq(HighFrequencyStatus::Active.as_str_name()))
            .filter(customer::Column::LastComplaintAt.lt(rule.active_since(now)))
            .limit(BATCH)
            .all(&*uow)
            .await?;
        let count = stale.len();
        for mut row in stale {
            row.hf_status = HighFrequencyStatus::Inactive.stored();
            let event = status_changed(&row, HighFrequencyStatus::Active, now);
            let mut update = row.into_active_model();
            update.hf_status = Set(HighFrequencyStatus::Inactive.stored());
            update.update(&*uow).await?;
            uow.publish(event.customer.clone(), &event);
        }
        uow.commit().await?;
        changed += count;
        if (count as u64) < BATCH {
            return Ok(changed);
        }
    }
}
