//! Assembling and running a service the same way everywhere.
//!
//! Every server gets, outermost first: a request span continuing the caller's W3C trace,
//! authentication and authorisation, load shedding at a fixed number of calls in flight and a
//! share of them per caller (RESOURCE_EXHAUSTED beyond either), and the request timeout; plus the gRPC health service and server
//! reflection. Shutdown (SIGTERM, Ctrl-C, or the future a test passes) turns health to NOT_SERVING,
//! waits the drain delay, ends feed subscriptions and consumers, lets calls in flight finish, and
//! then returns.

mod call_metrics;
mod callers;
mod error_answer;
mod message_size;
mod reflection;
mod shed;
mod trace;

pub use call_metrics::CallMetricsLayer;
pub use error_answer::ErrorAnswerLayer;
pub use message_size::MessageSizeLayer;
pub use shed::{Shed, ShedLayer};
use std::{future::Future, time::Duration};

use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tonic::{service::Routes, transport::server::TcpIncoming};
use tonic_health::ServingStatus;
use tower::ServiceBuilder;
use tower_http::trace::TraceLayer;

use crate::{
    auth::{AuthLayer, Authenticator, Policy},
    config::ServerSettings,
    tls::ReloadingTls,
};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("role policy incomplete: {0}")]
    Policy(String),
    #[error("binding the health address {address}: {source}")]
    HealthBind { address: std::net::SocketAddr, source: std::io::Error },
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("serving: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Why a service could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("authentication settings: {0}")]
    Auth(#[from] crate::auth::AuthConfigError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("binding {key} {address}: {source}")]
    Bind { key: &'static str, address: std::net::SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// What a service contributes; the [`Host`] adds everything else.
pub struct ServiceDefinition {
    /// Short name used in logs, for example "intake".
    pub name: &'static str,
    /// Full names of the gRPC services in `routes`, reported by the health service and checked
    /// against `policy` at start-up.
    pub grpc_services: Vec<&'static str>,
    pub routes: Routes,
    pub policy: Policy,
    pub authenticator: Authenticator,
    pub settings: ServerSettings,
}

/// Owns a service's lifetime: the stop signal its background tasks watch and the tasks themselves.
#[derive(Debug, Clone, Default)]
pub struct Host {
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Host {
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancelled when the service begins to stop; feed subscriptions and consumers watch it.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Runs a background task (a feed consumer, ...) that the host waits for on shutdown.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(task);
    }

    /// Stops background tasks and waits for them.
    pub async fn stop_and_wait(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Serves until `shutdown` completes, then drains and waits for background tasks. Background
    /// tasks are stopped and awaited however serving ends, including when it cannot start.
    pub async fn serve(
        self,
        definition: ServiceDefinition,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let name = definition.name;
        // Boxed: serving is a large future, which every service's `run` would otherwise carry inline.
        let served = Box::pin(self.serve_until_stopped(definition, listener, shutdown)).await;
        self.stop_and_wait().await;
        tracing::info!(service = name, "stopped");
        served
    }

    async fn serve_until_stopped(
        &self,
        definition: ServiceDefinition,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let ServiceDefinition { name, grpc_services, routes, policy, authenticator, settings } = definition;
        policy.verify(csm_proto::FILE_DESCRIPTOR_SET, &grpc_services).map_err(ServeError::Policy)?;
        let tls = settings.tls.enabled().then(|| ReloadingTls::load(&settings.tls)).transpose()?;

        let (health, health_service) = tonic_health::server::health_reporter();
        for service in &grpc_services {
            health.set_service_status(*service, ServingStatus::Serving).await;
        }
        let (reflection, reflection_alpha) = reflection::services(&grpc_services)?;
        let health_only = match settings.health_listen {
            Some(address) => Some((
                TcpListener::bind(address).await.map_err(|source| ServeError::HealthBind { address, source })?,
                health_service.clone(),
            )),
            None => None,
        };
        let routes = routes.add_service(health_service).add_service(reflection).add_service(reflection_alpha);

        let layers = ServiceBuilder::new()
            .layer(
                TraceLayer::new_for_grpc()
                    .make_span_with(trace::RequestSpan { service: name })
                    .on_response(trace::RecordStatus)
                    .on_eos(trace::record_trailers)
                    .on_failure(trace::log_failure),
            )
            .layer(CallMetricsLayer)
            .layer(ErrorAnswerLayer)
            .layer(MessageSizeLayer::new(
                settings.max_message_bytes,
                settings.max_bulk_message_bytes,
                policy.bulk_paths(),
            ))
            .layer(AuthLayer::new(authenticator, policy))
            .layer(ShedLayer::new(settings.max_concurrent_requests, settings.max_concurrent_requests_per_caller));

        let address = listener.local_addr().ok();
        tracing::info!(service = name, address = ?address, tls = tls.is_some(), "serving");
        let stop = self.stop.clone();
        let drain = settings.drain_delay;
        let health_names = grpc_services.clone();
        let signal = async move {
            tokio::select! {
                () = shutdown => {}
                () = stop.cancelled() => {}
            }
            tracing::info!(service = name, drain = ?drain, "shutting down: health NOT_SERVING");
            for service in std::iter::once("").chain(health_names) {
                health.set_service_status(service, ServingStatus::NotServing).await;
            }
            tokio::time::sleep(drain).await;
            stop.cancel();
        };
        if let Some((listener, health_service)) = health_only {
            let stop = self.stop.clone();
            tracing::info!(service = name, address = ?listener.local_addr().ok(), "serving health checks");
            self.spawn(async move {
                let served = tonic::transport::Server::builder()
                    .add_service(health_service)
                    .serve_with_incoming_shutdown(TcpIncoming::from(listener), stop.cancelled_owned())
                    .await;
                if let Err(error) = served {
                    tracing::warn!(%error, "health address stopped");
                }
            });
        }
        let server = tonic::transport::Server::builder()
            .timeout(settings.request_timeout)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .layer(layers)
            .add_routes(routes);
        match tls {
            Some(tls) => server.serve_with_incoming_shutdown(tls.incoming(listener, self.stop.clone()), signal).await?,
            None => {
                server
                    .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), signal)
                    .await?
            }
        }
        Ok(())
    }
}

/// Resolves on SIGTERM or Ctrl-C: the shutdown signal of a service binary.
pub async fn terminate_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use std::{convert::Infallible, sync::Arc};

    use http::{Request, Response};
    use tokio::sync::Semaphore;
    use tower::{Layer, Service};

    use super::{Host, ServeError, ServiceDefinition, ShedLayer};
    use crate::{
        auth::{Authenticator, Policy},
        config::ServerSettings,
    };

    fn call(path: &str) -> Request<()> {
        Request::builder().uri(path).body(()).unwrap()
    }

    fn grpc_status(response: &Response<String>) -> Option<&str> {
        response.headers().get("grpc-status").and_then(|v| v.to_str().ok())
    }

    #[tokio::test]
    async fn calls_beyond_the_limit_are_refused_at_once_but_health_never_is() {
        let (gate, inner) = gated();
        let mut shed = ShedLayer::new(1, 1).layer(inner);
        let first = tokio::spawn(shed.call(call("/csm.intake.v1.IntakeService/SubmitContact")));

        let refused = shed.call(call("/csm.intake.v1.IntakeService/SubmitContact")).await.unwrap();
        assert_eq!(grpc_status(&refused), Some("8"), "RESOURCE_EXHAUSTED");
        let health = shed.call(call("/grpc.health.v1.Health/Check")).await.unwrap();
        assert_eq!(grpc_status(&health), None);

        gate.add_permits(1);
        let served = first.await.unwrap().unwrap();
        assert_eq!(grpc_status(&served), None);
        // The permit came back with the finished call.
        gate.add_permits(1);
        let again = shed.call(call("/csm.intake.v1.IntakeService/SubmitContact")).await.unwrap();
        assert_eq!(grpc_status(&again), None);
    }

    fn call_as(token: &str) -> Request<()> {
        Request::builder()
            .uri("/csm.measurement.v1.MeasurementService/RenderReport")
            .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
            .body(())
            .unwrap()
    }

    /// A service whose calls wait at the returned gate until the test lets them through; health
    /// checks pass straight through.
    fn gated() -> (
        Arc<Semaphore>,
        impl tower::Service<Request<()>, Response = Response<String>, Error = Infallible, Future: Send> + Clone,
    ) {
        let gate = Arc::new(Semaphore::new(0));
        let inner = tower::service_fn({
            let gate = gate.clone();
            move |request: Request<()>| {
                let gate = gate.clone();
                async move {
                    if !request.uri().path().starts_with("/grpc.health.") {
                        let _pass = gate.acquire().await;
                    }
                    Ok::<_, Infallible>(Response::new(String::new()))
                }
            }
        });
        (gate, inner)
    }

    #[tokio::test]
    async fn limits_of_none_or_beyond_a_semaphores_reach_serve_rather_than_panic() {
        for (limit, per_caller) in [(0, 0), (usize::MAX, usize::MAX)] {
            let (gate, inner) = gated();
            gate.add_permits(1);
            let answer = ShedLayer::new(limit, per_caller).layer(inner).call(call_as("one")).await.unwrap();
            assert_eq!(grpc_status(&answer), None, "limits {limit}, {per_caller}");
        }
    }

    #[tokio::test]
    async fn a_caller_beyond_its_share_is_refused_while_another_is_still_served() {
        let (gate, inner) = gated();
        let layer = ShedLayer::new(10, 2);
        let mut shed = layer.layer(inner);
        let busy: Vec<_> = (0..2).map(|_| tokio::spawn(shed.call(call_as("busy")))).collect();

        let refused = shed.call(call_as("busy")).await.unwrap();
        let status = tonic::Status::from_header_map(refused.headers()).unwrap();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(status.message().contains("this caller has 2 calls in flight"), "{}", status.message());
        // Another caller still gets a slot, and health checks pass as ever.
        let other = tokio::spawn(shed.call(call_as("quiet")));
        let health = shed.call(call("/grpc.health.v1.Health/Check")).await.unwrap();
        assert_eq!(grpc_status(&health), None);
        gate.add_permits(3);
        for call in busy {
            assert_eq!(grpc_status(&call.await.unwrap().unwrap()), None);
        }
        assert_eq!(grpc_status(&other.await.unwrap().unwrap()), None);
        assert_eq!(layer.callers_in_flight(), 0, "callers with nothing in flight are forgotten");
    }

    #[tokio::test]
    async fn a_callers_slot_comes_back_when_its_call_ends_or_is_abandoned() {
        let (gate, inner) = gated();
        let layer = ShedLayer::new(10, 1);
        let mut shed = layer.layer(inner);

        // A call the caller gives up on (its future dropped) gives its slot back.
        let abandoned = shed.call(call_as("busy"));
        let refused = shed.call(call_as("busy")).await.unwrap();
        assert_eq!(grpc_status(&refused), Some("8"), "RESOURCE_EXHAUSTED");
        assert_eq!(layer.callers_in_flight(), 1);
        drop(abandoned);
        assert_eq!(layer.callers_in_flight(), 0);

        // A call that ends gives its slot back.
        let first = tokio::spawn(shed.call(call_as("busy")));
        gate.add_permits(1);
        assert_eq!(grpc_status(&first.await.unwrap().unwrap()), None);
        assert_eq!(layer.callers_in_flight(), 0);
        gate.add_permits(1);
        let again = shed.call(call_as("busy")).await.unwrap();
        assert_eq!(grpc_status(&again), None);
    }

    #[tokio::test]
    async fn without_a_token_callers_are_told_apart_by_their_address() {
        let (gate, inner) = gated();
        let mut shed = ShedLayer::new(10, 1).layer(inner);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = listener.local_addr().unwrap();
        // What tonic records of a connection from `host`, in the request as tonic puts it there.
        let from = async |host: [u8; 4]| {
            use tonic::transport::server::Connected;
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(std::net::SocketAddr::from((host, 0))).unwrap();
            let _client = socket.connect(server).await.unwrap();
            let (accepted, _) = listener.accept().await.unwrap();
            let mut request = call("/csm.intake.v1.IntakeService/SubmitContact");
            request.extensions_mut().insert(accepted.connect_info());
            request
        };
        let held = tokio::spawn(shed.call(from([127, 0, 0, 2]).await));
        let refused = shed.call(from([127, 0, 0, 2]).await).await.unwrap();
        assert_eq!(grpc_status(&refused), Some("8"), "another connection from the same host is the same caller");
        let elsewhere = tokio::spawn(shed.call(from([127, 0, 0, 3]).await));
        gate.add_permits(2);
        assert_eq!(grpc_status(&held.await.unwrap().unwrap()), None);
        assert_eq!(grpc_status(&elsewhere.await.unwrap().unwrap()), None);
    }

    #[tokio::test]
    async fn a_service_that_cannot_start_stops_its_background_tasks() {
        let host = Host::new();
        let stop = host.stop_token();
        let (stopped, consumer_ended) = tokio::sync::oneshot::channel();
        host.spawn(async move {
            stop.cancelled().await;
            let _ = stopped.send(());
        });
        let definition = ServiceDefinition {
            name: "intake",
            grpc_services: vec!["csm.intake.v1.IntakeService"],
            routes: tonic::service::Routes::default(),
            // No rule for any intake method: the service must refuse to start.
            policy: Policy::new(),
            authenticator: Authenticator::default(),
            settings: ServerSettings::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let refused = host.serve(definition, listener, std::future::pending()).await.unwrap_err();
        assert!(matches!(refused, ServeError::Policy(ref m) if m.contains("SubmitContact")), "{refused}");
        tokio::time::timeout(std::time::Duration::from_secs(5), consumer_ended)
            .await
            .expect("the background task was stopped")
            .unwrap();
    }
}
