//! A channel that rides out a server going away, as it does daily in a rolling restart.
//!
//! A server that stops gracefully sends HTTP/2 GOAWAY: calls it already took finish, and calls
//! that crossed the GOAWAY on the wire are refused unprocessed. tonic reports those refusals (and
//! a connection reset or refused while a replica is replaced) as INTERNAL or UNKNOWN, which no
//! caller retries. Here every such failure becomes UNAVAILABLE, and a call is sent again, with
//! backoff, when that is safe: always when the server never saw it (refused by GOAWAY or
//! REFUSED_STREAM, or the connection could not be made), and after a connection was lost mid-call
//! only when the call is idempotent (a read, or a request carrying a request id). Requests that
//! stream are sent once.

use std::{
    error::Error as StdError,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tonic::{Code, Status, body::Body, transport::Channel};
use tower::{Service, ServiceExt};

use super::methods;

type BoxError = Box<dyn StdError + Send + Sync>;

/// How patiently a call is sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// No attempt starts later than this after the first (nor after the caller's `grpc-timeout`).
    pub patience: Duration,
    /// The wait before the second attempt; it doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Thirty seconds of patience: long enough for a pod to be replaced on a busy node.
    fn default() -> Self {
        Self {
            patience: Duration::from_secs(30),
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_secs(1),
        }
    }
}

/// A [`Channel`] whose calls survive a server going away; see the module documentation.
#[derive(Debug, Clone)]
pub struct Resilient {
    channel: Channel,
    policy: RetryPolicy,
}

impl Resilient {
    pub fn new(channel: Channel, policy: RetryPolicy) -> Self {
        Self { channel, policy }
    }
}

impl Service<http::Request<Body>> for Resilient {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Each attempt waits for the channel's readiness itself.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let channel = self.channel.clone();
        let policy = self.policy;
        Box::pin(send(channel, policy, request))
    }
}

async fn send(
    mut channel: Channel,
    policy: RetryPolicy,
    request: http::Request<Body>,
) -> Result<http::Response<Body>, BoxError> {
    let traits = methods::traits(request.uri().path());
    if traits.streaming_request {
        return attempt(&mut channel, request).await.map(with_body_errors_mapped).map_err(as_status);
    }
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(|status| as_status(Box::new(status)))?.to_bytes();
    let idempotent = traits.read || traits.request_id_field.is_some_and(|field| methods::sets_field(&body, field));
    let patience = caller_timeout(&parts.headers).map_or(policy.patience, |t| t.min(policy.patience));
    let give_up = tokio::time::Instant::now() + patience;
    let mut backoff = policy.initial_backoff;
    let mut attempts = 1;
    loop {
        let outcome = attempt(&mut channel, rebuild(&parts, body.clone())).await;
        let again = tokio::time::Instant::now() + backoff < give_up
            && match &outcome {
                Ok(response) => idempotent && status_in_headers(response) == Some(Code::Unavailable),
                Err(error) => match went_away(error.as_ref()) {
                    Some(Gone::Unseen) => true,
                    Some(Gone::MidCall) => idempotent,
                    None => false,
                },
            };
        if !again {
            return outcome.map(with_body_errors_mapped).map_err(as_status);
        }
        tracing::debug!(path = parts.uri.path(), attempts, "the server went away; sending the call again");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(policy.max_backoff);
        attempts += 1;
    }
}

async fn attempt(channel: &mut Channel, request: http::Request<Body>) -> Result<http::Response<Body>, BoxError> {
    let ready = channel.ready().await.map_err(BoxError::from)?;
    ready.call(request).await.map_err(BoxError::from)
}

/// The caller's deadline from `grpc-timeout` ("100m", "5S", ...), if it set one.
fn caller_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (amount, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = amount.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

fn rebuild(parts: &http::request::Parts, body: Bytes) -> http::Request<Body> {
    let mut request = http::Request::new(Body::new(Full::new(body)));
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    *request.extensions_mut() = parts.extensions.clone();
    request
}

/// A status the server answered at once, without a body ("trailers only").
fn status_in_headers(response: &http::Response<Body>) -> Option<Code> {
    response.headers().get("grpc-status").map(|value| Code::from_bytes(value.as_bytes()))
}

/// Whether a failed call never reached the server (refused by GOAWAY or REFUSED_STREAM, or no
/// connection could be made): safe to send again whatever it was. For callers with channels of
/// their own, and for tests that hold a server to "no call it took is answered with an error".
pub fn never_reached_server(status: &Status) -> bool {
    went_away(status).is_some_and(|gone| gone == Gone::Unseen)
}

/// How a connection failed a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gone {
    /// The server never saw the call: refused by GOAWAY or REFUSED_STREAM, or no connection.
    Unseen,
    /// The connection went while the call was out: it may or may not have been done.
    MidCall,
}

/// What the error's chain says of the connection: any sign the server never saw the call wins
/// over signs it went away mid-call, wherever they sit in the chain.
fn went_away(error: &(dyn StdError + 'static)) -> Option<Gone> {
    let mut found = None;
    let mut cause = Some(error);
    while let Some(error) = cause {
        match gone(error) {
            Some(Gone::Unseen) => return Some(Gone::Unseen),
            Some(Gone::MidCall) => found = Some(Gone::MidCall),
            None => {}
        }
        cause = error.source();
    }
    found
}

/// What one error of a chain says.
fn gone(error: &(dyn StdError + 'static)) -> Option<Gone> {
    if let Some(h2) = error.downcast_ref::<h2::Error>() {
        if h2.is_go_away() && h2.is_remote() || h2.reason() == Some(h2::Reason::REFUSED_STREAM) {
            return Some(Gone::Unseen);
        }
        // A reset from the server's side (a server that stops mid-call cancels its streams), or
        // the connection failing under the call.
        if h2.is_io() || h2.is_go_away() || h2.is_reset() && h2.is_remote() {
            return Some(Gone::MidCall);
        }
    }
    if let Some(io) = error.downcast_ref::<std::io::Error>() {
        use std::io::ErrorKind::*;
        match io.kind() {
            ConnectionRefused | NotConnected | AddrNotAvailable => return Some(Gone::Unseen),
            ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => return Some(Gone::MidCall),
            _ => {}
        }
    }
    if let Some(hyper) = error.downcast_ref::<hyper::Error>() {
        // Canceled: the request was still queued for a connection that closed, never sent.
        if hyper.is_canceled() {
            return Some(Gone::Unseen);
        }
        if hyper.is_closed() || hyper.is_incomplete_message() {
            return Some(Gone::MidCall);
        }
    }
    if let Some(status) = error.downcast_ref::<Status>()
        && status.code() == Code::Unavailable
    {
        return Some(Gone::MidCall);
    }
    None
}

/// The caller's view of a failed call: UNAVAILABLE when the connection went away, otherwise
/// what tonic makes of the error.
fn as_status(error: BoxError) -> BoxError {
    match went_away(error.as_ref()) {
        Some(_) => Box::new(Status::unavailable(format!("the server went away: {}", chain(error.as_ref())))),
        None => error,
    }
}

/// An error with its causes, "outer: inner: ...".
fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let next = error.to_string();
        if !text.ends_with(&next) {
            text = format!("{text}: {next}");
        }
        cause = error.source();
    }
    text
}

/// A response whose body fails because the connection went away fails as UNAVAILABLE, so a
/// stream cut by a restart reads as something to resume, not as a server fault.
fn with_body_errors_mapped(response: http::Response<Body>) -> http::Response<Body> {
    response.map(|body| {
        Body::new(body.map_err(|status: Status| match went_away(&status) {
            Some(_) if status.code() != Code::Unavailable => {
                Status::unavailable(format!("the server went away: {}", status.message()))
            }
            _ => status,
        }))
    })
}
