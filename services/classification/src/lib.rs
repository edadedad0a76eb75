//! Classification: each work order intake opens is classified layer by layer (层层分类) down to a
//! root cause in a versioned taxonomy, by ordered rules and learned text models, and routed to the
//! department responsible for that cause with a handling deadline. Corrections teach the next
//! model; sudden rises of a leaf are published as emerging problems; and what intake says about
//! each customer feeds a model that predicts dissatisfaction before the customer complains, which
//! learns again from what recovery finds of those customers.

mod announce;
mod api;
mod classify;
pub mod config;
mod customers;
pub mod engine;
mod error;
pub mod model;
mod outcomes;
pub mod routing_evaluation;
pub mod rules;
pub mod starter;
mod store;
pub mod taxonomy;
mod training;

use std::future::Future;

use csm_kit::{RunError, ServiceRuntime};
use csm_proto::classification::v1::classification_service_server::ClassificationServiceServer;
use tokio::net::TcpListener;
use tonic::service::Routes;

pub use api::policy;
pub use config::Config;

/// Runs classification on `listener` until `shutdown` completes, following intake's feed, and
/// recovery's for outcomes to learn from.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RunError> {
    // How often this replica looks for a taxonomy or model put in force by another one.
    let check_in_force = config.common.feed.poll_interval;
    let request_timeout = config.common.server.request_timeout;
    let runtime = ServiceRuntime::open::<store::migration::Migrator, _>("classification", &config).await?;
    let in_force = engine::InForce::load(runtime.database().writer()).await?;
    tracing::info!(taxonomy = %in_force.classifier().taxonomy.name, "taxonomy in force");
    let mut in_force_now = in_force.classifier().taxonomy.to_proto();
    in_force_now.active = true;
    announce::taxonomy_in_force(runtime.publisher(), in_force_now).await?;
    runtime.spawn(in_force.clone().follow_changes(
        runtime.database().reader().clone(),
        check_in_force,
        runtime.stop_token(),
    ));
    runtime.follow(
        "intake",
        &config.upstream.intake,
        classify::WorkOrderOpenedHandler::new(in_force.clone(), config.problems, runtime.calendar().clone()),
    );
    runtime.follow(
        "intake-customers",
        &config.upstream.intake,
        customers::CustomerFeaturesHandler::new(in_force.clone(), config.risk.cooldown),
    );
    let trainer = training::Trainer::new(runtime.publisher().clone(), in_force.clone(), request_timeout);
    if !config.upstream.recovery.url.is_empty() {
        let auto_retrain = training::AutoRetrain::new(trainer.clone(), config.risk.retrain_after_outcomes);
        runtime.follow("recovery-outcomes", &config.upstream.recovery, outcomes::OutcomeHandler::new(auto_retrain));
    }
    let runner = trainer.clone();
    runtime.spawn_exclusive("training", move |held| trainer_task(runner.clone(), held));
    let calendar = runtime.calendar().clone();
    let api = api::ClassificationApi::new(runtime.publisher().clone(), in_force, config.problems, calendar, trainer);
    let server = ClassificationServiceServer::new(api)
        .max_decoding_message_size(api::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(api::MAX_MESSAGE_BYTES);
    runtime.serve(Routes::new(server), api::SERVICE, api::policy(), listener, shutdown).await
}

fn trainer_task(
    trainer: std::sync::Arc<training::Trainer>,
    held: tokio_util::sync::CancellationToken,
) -> impl Future<Output = ()> {
    trainer.run(held)
}
