//! Intake: the front door. Every contact from every channel is recorded here, with the customer it
//! comes from; complaints and fault reports open work orders (工单), repeats of the same problem are
//! linked to its first order, and high-frequency complainants are recognised. Usage and product
//! lifecycle events and survey answers come in here too. Everything is published on intake's feed.
//!
//! Where each concept lives: what a request may contain in `validate`; contacts, events and
//! survey answers are stored by the group-commit writer (`write`, which also says what is written
//! elsewhere and why); repeat complaints (重复投诉) and the reopening of a problem's first order in
//! `repeats`, whether recognised when a complaint arrives or when classification's feed gives an
//! order its root-cause leaf (`leaves`); the high-frequency complainant rule (高频次投诉客户) and
//! how the status is shown in `high_frequency`, kept current as time passes by `sweeper`;
//! customers and their tags in `customers` and `tags`, listings in `queries`; tables in `store`;
//! the gRPC handlers in `api`, whose errors become statuses in `error`.

mod api;
pub mod config;
mod customers;
mod error;
mod high_frequency;
mod ingest;
mod leaves;
mod queries;
mod repeats;
mod store;
mod sweeper;
mod tags;
mod validate;
mod write;

use std::future::Future;

use csm_kit::{RunError, ServiceRuntime, group_commit::GroupCommit};
use csm_proto::intake::v1::intake_service_server::IntakeServiceServer;
use tokio::net::TcpListener;
use tonic::service::Routes;

pub use api::policy;
pub use config::Config;

/// Runs intake on `listener` until `shutdown` completes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RunError> {
    let runtime = ServiceRuntime::open::<store::migration::Migrator, _>("intake", &config).await?;
    let settings = &config.intake;
    let rules = validate::Rules::new(settings).map_err(RunError::Config)?;
    let repeat = repeats::RepeatRule::new(settings.repeat_window);
    let high_frequency = high_frequency::Rule::new(&settings.high_frequency);
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
