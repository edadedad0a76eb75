//! The adapter's HTTP face: who the caller is, where its resources live and in which version, and a
//! span and a duration metric for every request.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{FromRequestParts, MatchedPath, Request},
    http::{HeaderMap, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use csm_kit::{Principal, Role, telemetry};
use opentelemetry::{KeyValue, metrics::Histogram};
use tracing::Instrument;

use crate::{App, error::ApiError, error::Failure};

pub const TICKET_V4: &str = "/tmf-api/troubleTicket/v4";
pub const TICKET_V5: &str = "/tmf-api/troubleTicket/v5";
pub const PROBLEM_V4: &str = "/tmf-api/serviceProblemManagement/v4";

/// The authenticated caller and the token its calls to the services carry.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Arc<Principal>,
    pub token: String,
}

impl Caller {
    /// Refused unless the caller holds one of `roles` (administrators hold them all).
    pub fn require(&self, roles: &[Role], what: &str) -> Result<(), ApiError> {
        if self.principal.has(Role::Administrator) || roles.iter().any(|role| self.principal.has(*role)) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("{} may not {what}", self.principal.subject)))
        }
    }
}

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let header = parts.headers.get(http::header::AUTHORIZATION);
        let principal = app
            .authenticator
            .authenticate(header)
            .map_err(|status| ApiError::Unauthenticated(status.message().to_string()))?;
        let token = header
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
            .unwrap_or_default()
            .trim()
            .to_string();
        Ok(Caller { principal, token })
    }
}

/// Where this API's resources live, for `href`s: the configured public address, else the
/// request's `Host`, followed by the API's root path (the version the request came in on).
#[derive(Debug, Clone)]
pub struct Root(pub String);

/// The TMF621 major version a request came in on: v5 writes references and histories in its own
/// shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V4,
    V5,
}

impl Root {
    pub fn version(&self) -> Version {
        if self.0.ends_with(TICKET_V5) { Version::V5 } else { Version::V4 }
    }
}

impl FromRequestParts<App> for Root {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let path = parts.uri.path();
        let api = [TICKET_V4, TICKET_V5, PROBLEM_V4].into_iter().find(|root| path.starts_with(root)).unwrap_or("");
        let origin = if app.settings.public_url.is_empty() {
            let host = parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            format!("http://{host}")
        } else {
            app.settings.public_url.trim_end_matches('/').to_string()
        };
        Ok(Root(format!("{origin}{api}")))
    }
}

/// `fields=a,b`: the attributes a reader wants (all when absent).
#[derive(Debug, serde::Deserialize)]
pub struct Fields {
    pub fields: Option<String>,
}

/// One page of a listing, with TMF630's count headers: how many match, and how many are here.
pub fn page(total: u64, items: Vec<serde_json::Value>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert("X-Total-Count", http::HeaderValue::from(total));
    headers.insert("X-Result-Count", http::HeaderValue::from(items.len()));
    (http::StatusCode::OK, headers, axum::Json(serde_json::Value::Array(items))).into_response()
}

struct HttpMetrics {
    duration: Histogram<f64>,
}

fn metrics() -> &'static HttpMetrics {
    static METRICS: std::sync::OnceLock<HttpMetrics> = std::sync::OnceLock::new();
    METRICS.get_or_init(|| HttpMetrics {
        duration: csm_kit::metrics::get()
            .meter()
            .f64_histogram("http.server.request.duration")
            .with_unit("s")
            .with_description("TM Forum API requests served, by route, method and status, and how long each took")
            .with_boundaries(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
            .build(),
    })
}

/// One span per request, named `METHOD route` and continuing the caller's trace, marked an error
/// when the answer is; and `http.server.request.duration` by route, method and status.
pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        error.message = tracing::field::Empty,
        error.r#type = tracing::field::Empty,
    );
    let (traceparent, tracestate) = trace_headers(request.headers());
    telemetry::continue_trace(&span, &traceparent, &tracestate);
    let response = as_tmf_error(next.run(request).instrument(span.clone()).await).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if let Some(Failure(fault)) = response.extensions().get::<Failure>() {
        span.record("otel.status_code", "ERROR");
        span.record("error.type", if *fault { "fault" } else { "refusal" });
        span.record("error.message", status.canonical_reason().unwrap_or("error"));
    }
    metrics().duration.record(
        started.elapsed().as_secs_f64(),
        &[
            KeyValue::new("http.route", route),
            KeyValue::new("http.request.method", method),
            KeyValue::new("http.response.status_code", i64::from(status.as_u16())),
        ],
    );
    response.into_response()
}

/// Refusals made before a handler runs (an unreadable query or path, a method the resource does not
/// have) in TM Forum's error shape too, as JSON like every other answer.
async fn as_tmf_error(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text =
        axum::body::to_bytes(body, 4096).await.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_string() } else { text };
    let body = serde_json::json!({
        "@type": "Error",
        "code": status.as_u16().to_string(),
        "reason": status.canonical_reason().unwrap_or("Error"),
        "message": message,
        "status": status.as_u16().to_string(),
    });
    parts.headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    parts.headers.remove(http::header::CONTENT_LENGTH);
    parts.extensions.insert(Failure(status.is_server_error()));
    Response::from_parts(parts, axum::body::Body::from(body.to_string()))
}

fn trace_headers(headers: &HeaderMap) -> (String, String) {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    (value("traceparent"), value("tracestate"))
}
