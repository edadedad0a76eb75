//! Intake: the front door. Every contact from every channel is recorded here, with the customer it
//! comes from; complaints and fault reports open work orders (工单), repeats of the same problem are
//! linked to its first order, and high-frequency complainants are recognised. Usage and product
//! lifecycle events and survey answers come in here too. Everything is published on intake's feed.

pub mod api;
pub mod config;
pub mod customers;
pub mod error;
pub mod high_frequency;
pub mod ingest;
pub mod leaves;
pub mod queries;
pub mod repeats;
pub mod store;
pub mod sweeper;
pub mod tags;
pub mod validate;
pub mod write;

use std::future::Future;

use csm_kit::{RunError, ServiceRuntime, group_commit::GroupCommit};
use csm_proto::intake::v1::intake_service_server::IntakeServiceServer;
use tokio::net::TcpListener;
use tonic::service::Routes;

pub use config::Config;

/// Runs intake on `listener` until `shutdown` completes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RunError> {
    let settings = &config.intake;
    let rules = validate::Rules::new(settings).map_err(RunError::Config)?;
    let repeat = repeats::RepeatRule::new(settings.repeat_window);
    let high_frequency = high_frequency::Rule::new(&settings.high_frequency);
    let runtime = ServiceRuntime::open::<store::migration::Migrator>("intake", config.common).await?;
    let publisher = runtime.publisher().clone();

    let (writer, writing) =
        GroupCommit::start(publisher.clone(), write::IntakeWriter::new(repeat, high_frequency), settings.write_batch)?;
    runtime.spawn(writing);
    let sweep_interval = settings.high_frequency.sweep_interval;
    let sweeping = publisher.clone();
    runtime.spawn_exclusive("high-frequency-sweep", move |held| {
        sweeper::run(sweeping.clone(), high_frequency, sweep_interval, held)
    });
    if !config.upstream.classification.url.is_empty() {
        runtime.follow("classification", &config.upstream.classification, leaves::LeafHandler::new(repeat));
    }

    let customers = customers::Customers::new(publisher, tags::TagRules::new(&settings.derogatory_labels));
    let queries = queries::Queries::new(runtime.database().clone());
    let api = api::IntakeApi::new(rules, writer, customers, queries);
    let routes = Routes::new(IntakeServiceServer::new(api));
    runtime.serve(routes, api::SERVICE, api::policy(), listener, shutdown).await
}
