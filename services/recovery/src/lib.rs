//! Recovery: makes sure the right department repairs each customer's experience and the cause
//! behind it. Every classified work order becomes a case dispatched to the department responsible
//! for its root cause; the first department to accept it owns it until it is closed (后台首问责任),
//! asking others for help when needed. Deadlines come from the taxonomy's time limits on working
//! calendars, pause while the customer is awaited, and escalate when missed. Resolution is
//! followed by a callback (回访) whose dissatisfied outcome reopens the case. Service-recovery
//! actions (服务补救), remediation programmes (整改) and proactive care of customers predicted to
//! be dissatisfied complete the loop; everything is audited and published on recovery's feed.

mod access;
mod affected;
mod api;
mod care;
mod cases;
mod closed_loop;
pub mod config;
mod detractors;
mod error;
mod escalation;
mod lifecycle;
mod problems;
mod programmes;
mod rules;
mod store;
mod validate;

use std::{future::Future, sync::Arc};

use csm_kit::{RunError, ServiceRuntime, group_commit::GroupCommit, time::Clock};
use csm_proto::recovery::v1::recovery_service_server::RecoveryServiceServer;
use tokio::net::TcpListener;
use tonic::service::Routes;

pub use api::policy;
pub use config::Config;

/// Case changes written in one transaction at most.
const CHANGE_BATCH: usize = 256;

/// Runs recovery on `listener` until `shutdown` completes, following intake's and
/// classification's feeds.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RunError> {
    run_with_clock(config, Clock::system(), listener, shutdown).await
}

/// [`run`] with the clock deadlines are judged by; tests pass an adjustable one.
pub async fn run_with_clock(
    config: Config,
    clock: Clock,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RunError> {
    let runtime = ServiceRuntime::open::<store::migration::Migrator, _>("recovery", &config).await?;
    let rules = Arc::new(rules::Rules::from_settings(&config.recovery, runtime.calendar().clone()));
    let context = rules::Context { publisher: runtime.publisher().clone(), clock, rules };
    runtime.follow(
        "intake",
        &config.upstream.intake,
        cases::dispatch::WorkOrderOpenedHandler { context: context.clone() },
    );
    runtime.follow(
        "classification",
        &config.upstream.classification,
        cases::dispatch::WorkOrderClassifiedHandler { context: context.clone() },
    );
    runtime.follow(
        "classification-risk",
        &config.upstream.classification,
        care::predicted::AtRiskCustomerHandler { context: context.clone() },
    );
    runtime.follow(
        "intake-detractors",
        &config.upstream.intake,
        detractors::DetractorHandler { context: context.clone() },
    );
    let sweep_interval = config.recovery.sweep_interval;
    let sweeping = context.clone();
    runtime.spawn_exclusive("escalation-sweep", move |held| escalation::run(sweeping.clone(), sweep_interval, held));
    let (changes, writing) =
        GroupCommit::new(context.publisher.clone(), cases::write::CaseWriter::new(context.clone()), CHANGE_BATCH);
    runtime.spawn(writing);
    let routes = Routes::new(RecoveryServiceServer::new(api::RecoveryApi::new(context, changes)));
    runtime.serve(routes, api::SERVICE, api::policy(), listener, shutdown).await
}
