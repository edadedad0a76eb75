//! The span of every call and how its failure is logged.

use std::time::Duration;

use http::Request;
use tower_http::classify::GrpcFailureClass;
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::telemetry;

/// One span per call, continuing the caller's trace when it sent one.
pub(super) fn request_span<B>(request: &Request<B>) -> Span {
    let path = request.uri().path();
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or_default();
    let method = parts.next().unwrap_or_default();
    let span = tracing::info_span!(
        "grpc.request",
        otel.name = %path,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        enduser.id = Empty,
    );
    let _ = span.set_parent(telemetry::extract_from_headers(request.headers()));
    span
}

/// Errors the caller caused are routine; errors of the service deserve attention.
pub(super) fn log_failure(failure: GrpcFailureClass, latency: Duration, _span: &Span) {
    use tonic::Code;
    match failure {
        GrpcFailureClass::Code(code) => {
            let code = Code::from_i32(code.get());
            match code {
                Code::Internal | Code::Unknown | Code::DataLoss | Code::Unavailable | Code::DeadlineExceeded => {
                    tracing::warn!(code = ?code, ?latency, "call failed");
                }
                _ => tracing::debug!(code = ?code, ?latency, "call refused"),
            }
        }
        GrpcFailureClass::Error(error) => tracing::warn!(%error, ?latency, "call failed"),
    }
}
