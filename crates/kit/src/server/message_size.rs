//! Message sizes checked before anything is buffered or decoded: each gRPC message announces its
//! length in a five-byte prefix, and a message longer than its method allows is refused with
//! RESOURCE_EXHAUSTED as soon as that prefix arrives. Most methods take small messages; the
//! methods a service's policy marks as taking bulk data (training sets, say) take large ones, so
//! one caller cannot make a server hold many large messages at once on a method that needs none.

use std::{
    collections::HashSet,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::{Buf, Bytes};
use http::Request;
use http_body::{Body, Frame, SizeHint};
use tonic::Status;
use tower::{Layer, Service};

/// The limits of one server: `small` for every method, `bulk` for the paths in `bulk_paths`.
#[derive(Debug, Clone)]
pub struct MessageSizeLayer {
    small: usize,
    bulk: usize,
    bulk_paths: Arc<HashSet<String>>,
}

impl MessageSizeLayer {
    pub fn new(small: usize, bulk: usize, bulk_paths: HashSet<String>) -> Self {
        Self { small, bulk: bulk.max(small), bulk_paths: Arc::new(bulk_paths) }
    }

    fn limit(&self, path: &str) -> usize {
        if self.bulk_paths.contains(path) { self.bulk } else { self.small }
    }
}

impl<S> Layer<S> for MessageSizeLayer {
    type Service = MessageSize<S>;

    fn layer(&self, inner: S) -> MessageSize<S> {
        MessageSize { inner, layer: self.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct MessageSize<S> {
    inner: S,
    layer: MessageSizeLayer,
}

impl<S> Service<Request<tonic::body::Body>> for MessageSize<S>
where
    S: Service<Request<tonic::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> Self::Future {
        let limit = self.layer.limit(request.uri().path());
        self.inner.call(request.map(|body| tonic::body::Body::new(Limited::new(body, limit))))
    }
}

/// A request body whose gRPC messages are checked against `limit` as their prefixes pass.
struct Limited {
    inner: tonic::body::Body,
    limit: usize,
    /// Bytes of the current message's five-byte prefix seen so far.
    prefix: [u8; 5],
    prefix_seen: usize,
    /// Bytes of the current message still to pass before the next prefix.
    remaining: usize,
}

impl Limited {
    fn new(inner: tonic::body::Body, limit: usize) -> Self {
        Self { inner, limit, prefix: [0; 5], prefix_seen: 0, remaining: 0 }
    }

    /// Follows the message boundaries through `data`; an error when a message is too long.
    fn check(&mut self, data: &Bytes) -> Result<(), Status> {
        let mut data = data.clone();
        while data.has_remaining() {
            if self.remaining > 0 {
                let skip = self.remaining.min(data.remaining());
                data.advance(skip);
                self.remaining -= skip;
                continue;
            }
            self.prefix[self.prefix_seen] = data.get_u8();
            self.prefix_seen += 1;
            if self.prefix_seen == self.prefix.len() {
                self.prefix_seen = 0;
                let length = u32::from_be_bytes([self.prefix[1], self.prefix[2], self.prefix[3], self.prefix[4]]);
                let length = usize::try_from(length).unwrap_or(usize::MAX);
                if length > self.limit {
                    return Err(Status::resource_exhausted(format!(
                        "a message of {length} bytes is more than this method takes ({} bytes)",
                        self.limit
                    )));
                }
                self.remaining = length;
            }
        }
        Ok(())
    }
}

impl Body for Limited {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && let Err(status) = self.check(data)
                {
                    return Poll::Ready(Some(Err(status)));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(length: u32) -> Bytes {
        let mut frame = vec![0u8];
        frame.extend_from_slice(&length.to_be_bytes());
        frame.extend(std::iter::repeat_n(7u8, length.min(64) as usize));
        Bytes::from(frame)
    }

    #[test]
    fn a_message_within_the_limit_passes_split_anywhere() {
        let mut limited = Limited::new(tonic::body::Body::empty(), 64);
        let two = [framed(10), framed(64)].concat();
        for chunk in two.chunks(3) {
            limited.check(&Bytes::copy_from_slice(chunk)).unwrap();
        }
    }

    #[test]
    fn a_message_over_the_limit_is_refused_from_its_prefix() {
        let mut limited = Limited::new(tonic::body::Body::empty(), 64);
        limited.check(&framed(64)).unwrap();
        // Only the prefix of the next message has arrived: that is enough to refuse it.
        let refused = limited.check(&framed(48 * 1024 * 1024).slice(0..5)).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    }
}
