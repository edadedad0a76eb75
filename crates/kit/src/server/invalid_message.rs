//! A request whose bytes do not decode is the caller's mistake, not the server's: tonic answers
//! it INTERNAL ("failed to decode Protobuf message"), which callers and alerts read as a fault of
//! the service. This layer answers it INVALID_ARGUMENT instead, for every method of every service.
//!
//! Tonic refuses such a request before the service sees it, with a trailers-only response whose
//! status travels in the headers; that is the one place it is rewritten.

use std::task::{Context, Poll};

use futures_util::{TryFutureExt, future::MapOk};
use http::{HeaderValue, Request, Response};
use tower::{Layer, Service};

/// The start of tonic's message for a request that does not decode, percent-encoded as
/// `grpc-message` carries it.
const UNDECODABLE: &[&str] = &["failed%20to%20decode%20Protobuf%20message", "failed to decode Protobuf message"];

#[derive(Debug, Clone, Copy, Default)]
pub struct InvalidMessageLayer;

impl<S> Layer<S> for InvalidMessageLayer {
    type Service = InvalidMessage<S>;

    fn layer(&self, inner: S) -> InvalidMessage<S> {
        InvalidMessage { inner }
    }
}

#[derive(Debug, Clone)]
pub struct InvalidMessage<S> {
    inner: S,
}

impl<S, B, ResBody> Service<Request<B>> for InvalidMessage<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = MapOk<S::Future, fn(Response<ResBody>) -> Response<ResBody>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.inner.call(request).map_ok(as_invalid_argument)
    }
}

/// The response, its status INVALID_ARGUMENT if it is tonic's INTERNAL for a message that did
/// not decode.
fn as_invalid_argument<ResBody>(mut response: Response<ResBody>) -> Response<ResBody> {
    let headers = response.headers_mut();
    let internal = headers.get("grpc-status").is_some_and(|status| status == "13");
    let undecodable = headers
        .get("grpc-message")
        .and_then(|message| message.to_str().ok())
        .is_some_and(|message| UNDECODABLE.iter().any(|start| message.starts_with(start)));
    if internal && undecodable {
        headers.insert("grpc-status", HeaderValue::from_static("3"));
    }
    response
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tonic::Status;

    use super::*;

    async fn answer(status: Status) -> Response<tonic::body::Body> {
        let inner = tower::service_fn(move |_: Request<()>| {
            let status = status.clone();
            async move { Ok::<_, Infallible>(status.into_http()) }
        });
        InvalidMessageLayer.layer(inner).call(Request::new(())).await.unwrap()
    }

    fn code(response: &Response<tonic::body::Body>) -> &str {
        response.headers().get("grpc-status").and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    #[tokio::test]
    async fn a_message_that_does_not_decode_is_the_callers_mistake() {
        let undecodable = Status::internal("failed to decode Protobuf message: invalid wire type value: 7");
        assert_eq!(code(&answer(undecodable).await), "3");
    }

    #[tokio::test]
    async fn other_internal_errors_stay_internal() {
        assert_eq!(code(&answer(Status::internal("database: disk I/O error")).await), "13");
        assert_eq!(code(&answer(Status::not_found("workOrders/1 not found")).await), "5");
    }
}
