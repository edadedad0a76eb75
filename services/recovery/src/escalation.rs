//! The escalation sweep (超时升级): every `recovery.sweep_interval`, cases whose clock runs and
//! programmes still open are compared with their deadlines; each one that has been overdue long
//! enough for the next step of the ladder is raised to it, audited, and announced on the feed
//! (CaseEscalated, ProgrammeEscalated) for whoever must be told. The same sweep keeps the
//! regulator's clock: cases near or past their answer due time are announced (AppealRiskRaised).

use csm_kit::feed::UnitOfWork;
use csm_proto::{
    StoredEnum,
    recovery::v1::{ProgrammeEscalated, ProgrammeStatus},
};
use tokio_util::sync::CancellationToken;

use crate::{
    cases::{change, write},
    error::Error,
    programmes,
    rules::Context,
    store::{self, programmes as programme_store},
};

/// Items escalated per transaction.
const BATCH: u64 = 200;
/// Transactions per step and sweep at most; the next sweep carries on.
const MAX_ROUNDS: usize = 50;

pub async fn run(context: Context, interval: std::time::Duration, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if let Err(error) = sweep(&context).await {
            tracing::warn!(%error, "escalation sweep failed; retrying at the next tick");
        }
    }
}

/// Escalates everything due at the clock's now; returns how many steps were taken.
///
/// For each step of the ladder, highest first, it looks for the items below that step whose
/// deadline passed at least the step's delay ago, so a backlog of items waiting for a later step
/// never hides the ones due now.
pub async fn sweep(context: &Context) -> Result<usize, Error> {
    let now = context.now();
    let mut taken = 0;
    for level in (1..=context.rules.ladder_len()).rev() {
        let before = now.saturating_sub(context.rules.step_delay(level));
        for _ in 0..MAX_ROUNDS {
            let due = store::overdue_cases(context.db().reader(), before, level, BATCH).await?;
            let mut uow = context.publisher.begin().await?;
            for case in &due {
                let reached = context.rules.escalation_level(case.deadline, now).max(level);
                let planned = change::plan_escalation(case, reached, context.rules.escalate_to(reached));
                if write::write(context, &mut uow, planned, "escalation", None).await?.is_some() {
                    taken += 1;
                }
            }
            let programmes = escalate_programmes(context, &mut uow, now, before, level).await?;
            uow.commit().await?;
            taken += programmes;
            if (due.len() as u64) < BATCH && (programmes as u64) < BATCH {
                break;
            }
        }
    }
    taken += appeal_risks(context, now).await?;
    let metrics = csm_kit::metrics::get();
    metrics.escalations.add(taken as u64, &[]);
    metrics.cases_overdue.record(store::count_overdue_cases(context.db().reader(), now).await?, &[]);
    Ok(taken)
}

/// The regulator's clock (法定答复时限): each unanswered case coming within the warning window of
/// its answer due time, and each passing it, is announced once (AppealRiskRaised) to the
/// service-quality office; a case found already past due is announced once, as past due.
async fn appeal_risks(context: &Context, now: i64) -> Result<usize, Error> {
    let warn = csm_kit::time::duration_micros(context.rules.regulator.warn_before);
    let to = &context.rules.regulator.escalate_to;
    let mut raised = 0;
    for _ in 0..MAX_ROUNDS {
        let due = store::cases_reaching_appeal_risk(context.db().reader(), now, warn, BATCH).await?;
        let mut uow = context.publisher.begin().await?;
        let mut counted = [0u64; 2];
        for case in &due {
            let level = if now >= case.answer_due { 2 } else { 1 };
            let planned = change::plan_appeal_risk(case, level, to);
            if write::write(context, &mut uow, planned, "regulator clock", None).await?.is_some() {
                counted[usize::from(level == 2)] += 1;
            }
        }
        uow.commit().await?;
        let metrics = csm_kit::metrics::get();
        for (past_due, count) in [(false, counted[0]), (true, counted[1])] {
            if count > 0 {
                metrics.appeal_risks.add(count, &[csm_kit::metrics::KeyValue::new("past_due", past_due)]);
            }
        }
        raised += (counted[0] + counted[1]) as usize;
        if (due.len() as u64) < BATCH {
            break;
        }
    }
    Ok(raised)
}

async fn escalate_programmes(
    context: &Context,
    uow: &mut UnitOfWork,
    now: i64,
    before: i64,
    level: i32,
) -> Result<usize, Error> {
    let open = ProgrammeStatus::Open.stored();
    let due = programme_store::overdue(&**uow, &open, before, level, BATCH).await?;
    let mut raised = 0;
    for row in due {
        let reached = context.rules.escalation_level(row.deadline, now).max(level);
        if !programme_store::escalate(&**uow, &row.id, row.escalation_level, reached).await? {
            continue;
        }
        let mut escalated = row.clone();
        escalated.escalation_level = reached;
        let actions = programme_store::actions_of(&**uow, &row.id).await?;
        let programme = programmes::view(&escalated, &actions, now);
        uow.publish(
            programme.name.clone(),
            &ProgrammeEscalated {
                programme: Some(programme),
                level: reached,
                escalate_to: context.rules.escalate_to(reached).to_string(),
            },
        );
        raised += 1;
    }
    Ok(raised)
}
