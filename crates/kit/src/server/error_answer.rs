//! Error answers a caller can read, for every method of every service. Tonic answers an error with
//! a trailers-only response whose status travels in the headers; this layer looks at them there.
//!
//! - A request whose bytes do not decode is the caller's mistake, not the server's: tonic answers
//!   it INTERNAL ("failed to decode Protobuf message"), which callers and alerts read as a fault
//!   of the service. It is answered INVALID_ARGUMENT instead.
//! - An error whose message and details would pass the 16 KiB of headers gRPC clients accept by
//!   default reaches the caller as a protocol error, not as its status. Such a message is cut and
//!   such details dropped, so the code and the start of the message always arrive.

use std::task::{Context, Poll};

use futures_util::{TryFutureExt, future::MapOk};
use http::{HeaderValue, Request, Response};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode, percent_encode};
use tower::{Layer, Service};

/// The start of tonic's message for a request that does not decode, percent-encoded as
/// `grpc-message` carries it.
const UNDECODABLE: &[&str] = &["failed%20to%20decode%20Protobuf%20message", "failed to decode Protobuf message"];

#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorAnswerLayer;

impl<S> Layer<S> for ErrorAnswerLayer {
    type Service = ErrorAnswer<S>;

    fn layer(&self, inner: S) -> ErrorAnswer<S> {
        ErrorAnswer { inner }
    }
}

#[derive(Debug, Clone)]
pub struct ErrorAnswer<S> {
    inner: S,
}

impl<S, B, ResBody> Service<Request<B>> for ErrorAnswer<S>
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
        self.inner.call(request).map_ok(readable)
    }
}

/// Bytes of `grpc-message` kept at most (percent-encoded, as it travels).
const MAX_MESSAGE: usize = 4 * 1024;
/// Bytes of `grpc-status-details-bin` kept at most (base64, as it travels).
const MAX_DETAILS: usize = 8 * 1024;

fn readable<ResBody>(response: Response<ResBody>) -> Response<ResBody> {
    within_header_budget(as_invalid_argument(response))
}

/// The characters tonic percent-encodes in `grpc-message`, besides every non-ASCII byte.
const AS_TONIC_SENDS: &AsciiSet =
    &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'%').add(b'<').add(b'>').add(b'`').add(b'?').add(b'{').add(b'}');

/// The response with an oversized status message cut at a character and oversized details
/// dropped.
fn within_header_budget<ResBody>(mut response: Response<ResBody>) -> Response<ResBody> {
    let headers = response.headers_mut();
    if headers.get("grpc-status-details-bin").is_some_and(|details| details.len() > MAX_DETAILS) {
        headers.remove("grpc-status-details-bin");
    }
    let cut = headers.get("grpc-message").filter(|message| message.len() > MAX_MESSAGE).map(|message| {
        let text = percent_decode(message.as_bytes()).decode_utf8_lossy();
        let mut kept = String::new();
        let mut length = 0;
        for c in text.chars() {
            let mut buffer = [0; 4];
            length +=
                percent_encode(c.encode_utf8(&mut buffer).as_bytes(), AS_TONIC_SENDS).map(str::len).sum::<usize>();
            if length > MAX_MESSAGE {
                break;
            }
            kept.push(c);
        }
        kept.push('…');
        percent_encode(kept.as_bytes(), AS_TONIC_SENDS).to_string()
    });
    if let Some(value) = cut.and_then(|kept| HeaderValue::from_str(&kept).ok()) {
        headers.insert("grpc-message", value);
    }
    response
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
        ErrorAnswerLayer.layer(inner).call(Request::new(())).await.unwrap()
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
    async fn an_answer_too_large_for_a_clients_headers_keeps_its_code_and_the_start_of_its_message() {
        let long = format!("{} {}", "reason ".repeat(1_000), "满".repeat(5_000));
        let details = tonic_types::ErrorDetails::with_debug_info(vec!["frame".repeat(5_000)], "");
        let status = <Status as tonic_types::StatusExt>::with_error_details(tonic::Code::NotFound, long, details);
        let response = answer(status).await;
        assert_eq!(code(&response), "5");
        let headers = response.headers();
        let message = headers.get("grpc-message").unwrap().to_str().unwrap();
        assert!(message.starts_with("reason%20reason"), "{message}");
        assert!(message.len() <= MAX_MESSAGE + 9 && message.ends_with("%E2%80%A6"), "{}", message.len());
        assert!(headers.get("grpc-status-details-bin").is_none());
        // Cut between characters, the message still decodes.
        let cjk = answer(Status::not_found(format!("x{}", "满".repeat(5_000)))).await;
        let decoded = Status::from_header_map(cjk.headers()).unwrap();
        assert_eq!(decoded.code(), tonic::Code::NotFound);
        assert!(decoded.message().starts_with("x满满") && decoded.message().ends_with("满…"), "{}", decoded.message());
    }

    #[tokio::test]
    async fn other_internal_errors_stay_internal() {
        assert_eq!(code(&answer(Status::internal("database: disk I/O error")).await), "13");
        assert_eq!(code(&answer(Status::not_found("workOrders/1 not found")).await), "5");
    }
}
