//! The span of every call: what it was, how it ended, and how its failure is logged.
//!
//! The server span follows the OpenTelemetry RPC conventions: named `package.Service/Method`, kind
//! server, with `rpc.system`, `rpc.service`, `rpc.method` and, once the call ends,
//! `rpc.grpc.status_code` (an integer, on every call, OK ones too). It carries `csm.service`, the
//! service the call belongs to, which gives it (and everything under it) that service's identity
//! when several services share a process.

use std::time::Duration;

use http::{HeaderMap, Request, Response};
use percent_encoding::percent_decode_str;
use tower_http::{
    classify::GrpcFailureClass,
    trace::{MakeSpan, OnResponse},
};
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::telemetry;

/// Makes one span per call to the service `service`, continuing the caller's trace when it sent one.
#[derive(Debug, Clone, Copy)]
pub(super) struct RequestSpan {
    pub(super) service: &'static str,
}

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        let path = request.uri().path().trim_start_matches('/');
        let (service, method) = path.split_once('/').unwrap_or((path, ""));
        let span = tracing::info_span!(
            "grpc.request",
            otel.name = %path,
            otel.kind = "server",
            otel.status_code = Empty,
            otel.status_description = Empty,
            csm.service = self.service,
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = Empty,
            enduser.id = Empty,
        );
        let _ = span.set_parent(telemetry::extract_from_headers(request.headers()));
        span
    }
}

/// Records the status of a trailers-only response (every refusal tonic answers at once), which
/// carries `grpc-status` in its headers.
#[derive(Debug, Clone, Copy)]
pub(super) struct RecordStatus;

impl<B> OnResponse<B> for RecordStatus {
    fn on_response(self, response: &Response<B>, _latency: Duration, span: &Span) {
        record_status(response.headers(), span);
    }
}

/// Records the status of a response that ends with trailers (every answered call).
pub(super) fn record_trailers(trailers: Option<&HeaderMap>, _duration: Duration, span: &Span) {
    if let Some(trailers) = trailers {
        record_status(trailers, span);
    }
}

/// The codes that say the server failed (logged as warnings; the error-rate alert counts them).
/// The others (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, ...) say the caller asked for
/// something it may not have, and are logged at debug.
fn is_server_fault(code: tonic::Code) -> bool {
    use tonic::Code;
    matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    )
}

fn record_status(headers: &HeaderMap, span: &Span) {
    let Some(code) = headers.get("grpc-status").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i32>().ok())
    else {
        return;
    };
    span.record("rpc.grpc.status_code", i64::from(code));
    // Every failed call is an error span with its message, a refusal included: whoever searches
    // traces for what went wrong with a complaint finds the refused submission too. (The
    // OpenTelemetry RPC conventions leave a server span of a caller's mistake UNSET; here the
    // code tells a refusal from a fault, and alerts count faults by code from the metrics.)
    if code != 0 {
        let message = headers.get("grpc-message").and_then(|v| v.to_str().ok()).unwrap_or_default();
        span.record("otel.status_code", "ERROR");
        span.record("otel.status_description", percent_decode_str(message).decode_utf8_lossy().as_ref());
    }
}

/// Errors the caller caused are routine; errors of the service deserve attention. A call that
/// broke off without a status (the connection failed) marks its span as an error.
pub(super) fn log_failure(failure: GrpcFailureClass, latency: Duration, span: &Span) {
    use tonic::Code;
    match failure {
        GrpcFailureClass::Code(code) => {
            let code = Code::from_i32(code.get());
            if is_server_fault(code) {
                tracing::warn!(code = ?code, ?latency, "call failed");
            } else {
                tracing::debug!(code = ?code, ?latency, "call refused");
            }
        }
        GrpcFailureClass::Error(error) => {
            span.record("otel.status_code", "ERROR");
            span.record("otel.status_description", error.as_str());
            tracing::warn!(%error, ?latency, "call failed");
        }
    }
}
