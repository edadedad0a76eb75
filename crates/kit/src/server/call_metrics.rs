//! Per-call metrics for every server: calls in flight, and each call's duration by service,
//! method and gRPC status code (`rpc.server.call.duration`, whose count is the request rate).
//!
//! The status of a call that fails before the handler answers travels in the response headers
//! (trailers-only); otherwise it comes in the trailers after the last message, so the body is
//! watched to its end. A call the client abandons counts as CANCELLED. Only the methods of the
//! contracts get their own labels; any other path counts as `unknown`, so a caller inventing
//! paths cannot create series without bound.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{Arc, LazyLock},
    task::{Context, Poll},
    time::Instant,
};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use opentelemetry::KeyValue;
use tower::{Layer, Service};

use crate::metrics;

/// The labels of every method of the contracts, health checks and reflection, built once; their
/// texts are shared, so labelling a call allocates nothing.
static LABELS: LazyLock<HashMap<&'static str, [KeyValue; 3]>> = LazyLock::new(|| {
    let reflection = [
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ];
    crate::client::method_paths()
        .chain(reflection)
        .filter_map(|path| {
            let (service, method) = path.trim_start_matches('/').split_once('/')?;
            Some((path, labels(Arc::from(service), Arc::from(method))))
        })
        .collect()
});

/// The labels of any other path.
static UNKNOWN: LazyLock<[KeyValue; 3]> = LazyLock::new(|| labels(Arc::from("unknown"), Arc::from("unknown")));

fn labels(service: Arc<str>, method: Arc<str>) -> [KeyValue; 3] {
    [KeyValue::new("rpc.system", "grpc"), KeyValue::new("rpc.service", service), KeyValue::new("rpc.method", method)]
}

#[derive(Debug, Clone, Copy, Default)]
pub struct CallMetricsLayer;

impl<S> Layer<S> for CallMetricsLayer {
    type Service = CallMetrics<S>;

    fn layer(&self, inner: S) -> CallMetrics<S> {
        CallMetrics { inner }
    }
}

#[derive(Debug, Clone)]
pub struct CallMetrics<S> {
    inner: S,
}

impl<S, B, ResBody> Service<Request<B>> for CallMetrics<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<tonic::codegen::StdError>,
{
    type Response = Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let call = Call::start(request.uri().path());
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            let mut call = call;
            call.code = status_in(response.headers());
            Ok(response.map(|body| tonic::body::Body::new(Watched { inner: tonic::body::Body::new(body), call })))
        })
    }
}

/// One call being counted; recorded once, when its body ends or is dropped.
struct Call {
    started: Instant,
    attributes: [KeyValue; 3],
    code: Option<i64>,
    recorded: bool,
}

impl Call {
    fn start(path: &str) -> Self {
        metrics::get().active_calls.add(1, &[]);
        Self {
            started: Instant::now(),
            attributes: LABELS.get(path).unwrap_or(&UNKNOWN).clone(),
            code: None,
            recorded: false,
        }
    }

    fn record(&mut self, code: i64) {
        if self.recorded {
            return;
        }
        self.recorded = true;
        let metrics = metrics::get();
        metrics.active_calls.add(-1, &[]);
        let [system, service, method] = self.attributes.clone();
        let attributes = [system, service, method, KeyValue::new("rpc.grpc.status_code", code)];
        metrics.call_duration.record(self.started.elapsed().as_secs_f64(), &attributes);
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // Abandoned before its status was sent.
        self.record(self.code.unwrap_or(1));
    }
}

fn status_in(headers: &HeaderMap) -> Option<i64> {
    headers.get("grpc-status").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

/// A response body that records its call when the status has gone out.
struct Watched {
    inner: tonic::body::Body,
    call: Call,
}

impl Body for Watched {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(status_in) {
                    self.call.code = Some(code);
                    self.call.record(code);
                }
            }
            Poll::Ready(None) => {
                let code = self.call.code.unwrap_or(2);
                self.call.record(code);
            }
            Poll::Ready(Some(Err(_))) => self.call.record(13),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
