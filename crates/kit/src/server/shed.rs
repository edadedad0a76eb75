//! Load shedding: a fixed number of calls in flight, and a share of them for each caller,
//! RESOURCE_EXHAUSTED beyond either.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use futures_util::future::BoxFuture;
use http::{Request, Response};
use tokio::sync::Semaphore;
use tonic::Status;
use tower::{Layer, Service};

use super::callers::Callers;

/// Refuses calls beyond a fixed number in flight with RESOURCE_EXHAUSTED instead of queueing them,
/// so an overloaded replica answers at once and the caller can back off or go elsewhere. Before
/// that, each caller (its credential, else its address) may have only its share in flight, so one
/// busy caller is refused while the others are still served. Health checks and reflection are
/// never shed, so probes keep working under load.
#[derive(Debug, Clone)]
pub struct ShedLayer {
    permits: Arc<Semaphore>,
    limit: usize,
    callers: Arc<Callers>,
}

impl ShedLayer {
    /// `limit` calls in flight in all, `per_caller` of them from any one caller.
    pub fn new(limit: usize, per_caller: usize) -> Self {
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS);
        Self { permits: Arc::new(Semaphore::new(limit)), limit, callers: Arc::new(Callers::new(per_caller)) }
    }

    /// Callers with a call in flight, for tests of the bookkeeping.
    #[cfg(test)]
    pub(super) fn callers_in_flight(&self) -> usize {
        self.callers.tracked()
    }
}

impl<S> Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Shed<S> {
        Shed { inner, layer: self.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct Shed<S> {
    inner: S,
    layer: ShedLayer,
}

impl<S, B, ResBody> Service<Request<B>> for Shed<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let path = request.uri().path();
        if path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.") {
            return Box::pin(self.inner.call(request));
        }
        let caller = self.layer.callers.caller_of(&request);
        let Some(slot) = self.layer.callers.enter(caller) else {
            crate::metrics::get().shed.add(1, &[opentelemetry::KeyValue::new("scope", "caller")]);
            let status = Status::resource_exhausted(format!(
                "this caller has {} calls in flight, its share of the server \
                 (server.max_concurrent_requests_per_caller); retry with backoff",
                self.layer.callers.share()
            ));
            return Box::pin(std::future::ready(Ok(status.into_http())));
        };
        match self.layer.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let response = self.inner.call(request);
                // Both are given back when the call ends or is abandoned (the future dropped).
                Box::pin(async move {
                    let response = response.await;
                    drop((permit, slot));
                    response
                })
            }
            Err(_) => {
                crate::metrics::get().shed.add(1, &[opentelemetry::KeyValue::new("scope", "server")]);
                let status = Status::resource_exhausted(format!(
                    "server busy: {} calls in flight; retry with backoff",
                    self.layer.limit
                ));
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}
