//! Calling another service: a lazily connected channel that rides out a server going away (see
//! [`resilient`]), and an interceptor that adds the bearer token and the current trace context
//! to every call. Every csm client (feed consumers, the CLI, the bench, the tests) connects here.

mod methods;
mod resilient;

pub use methods::{MethodTraits, paths as method_paths, traits as method_traits};
pub use resilient::{Resilient, RetryPolicy, never_reached_server};

use std::time::Duration;

use tonic::{
    Request, Status,
    metadata::{Ascii, MetadataValue},
    service::Interceptor,
    transport::Endpoint,
};

use crate::{
    config::UpstreamSettings,
    telemetry,
    tls::{ClientTlsSettings, TlsError},
};

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("{0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("{0}")]
    Tls(#[from] TlsError),
}

/// What no reconnection would mend about calling `upstream`, each problem naming `key` (such as
/// `upstream.intake`): a URL that is not `http://` or `https://` with a host, TLS whose files
/// cannot be read (its own, else `fallback_tls`), a token that cannot be sent. A feed followed
/// from such an upstream would be retried for ever.
pub fn upstream_problems(key: &str, upstream: &UpstreamSettings, fallback_tls: &ClientTlsSettings) -> Vec<String> {
    let mut problems = Vec::new();
    let uri = upstream.url.parse::<http::Uri>().ok();
    let scheme = uri.as_ref().and_then(|uri| uri.scheme_str().filter(|_| uri.host().is_some_and(|h| !h.is_empty())));
    match scheme {
        Some("http") => {}
        Some("https") => {
            if let Err(error) = upstream.tls_or(fallback_tls).client_config() {
                problems.push(format!("{key}.tls: {error}"));
            }
        }
        _ => problems.push(format!("{key}.url must be http:// or https:// and a host, not {:?}", upstream.url)),
    }
    if CallerInterceptor::new(&upstream.token).is_err() {
        problems.push(format!("{key}.token cannot be sent in a header (visible ASCII only)"));
    }
    problems
}

/// A channel to `url` that connects on first use, reconnects by itself, and sends a call again
/// when the server went away before it could answer and that is safe.
pub fn channel(url: &str) -> Result<Resilient, tonic::transport::Error> {
    Ok(Resilient::new(endpoint(url)?.connect_lazy(), RetryPolicy::default()))
}

/// A channel to `url`, over TLS configured by `tls` when the URL is `https://`. The certificate
/// files are read now, so a channel made after a rotation uses the new ones.
pub fn channel_with_tls(url: &str, tls: &ClientTlsSettings) -> Result<Resilient, ChannelError> {
    let mut endpoint = endpoint(url)?;
    if url.starts_with("https://") {
        endpoint = endpoint.tls_config(tls.client_config()?)?;
    }
    Ok(Resilient::new(endpoint.connect_lazy(), RetryPolicy::default()))
}

/// A channel to the upstream whose feed a service follows.
pub fn upstream_channel(upstream: &UpstreamSettings) -> Result<Resilient, ChannelError> {
    channel_with_tls(&upstream.url, &upstream.tls)
}

fn endpoint(url: &str) -> Result<Endpoint, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true))
}

/// Adds `authorization: Bearer <token>` and W3C trace context to outgoing calls.
#[derive(Debug, Clone)]
pub struct CallerInterceptor {
    authorization: Option<MetadataValue<Ascii>>,
}

impl CallerInterceptor {
    /// An empty token sends no authorization header.
    pub fn new(token: &str) -> Result<Self, Status> {
        let authorization = if token.is_empty() {
            None
        } else {
            Some(
                format!("Bearer {token}")
                    .parse()
                    .map_err(|_| Status::invalid_argument("token is not valid header text"))?,
            )
        };
        Ok(Self { authorization })
    }
}

impl Interceptor for CallerInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.authorization {
            request.metadata_mut().insert("authorization", value.clone());
        }
        telemetry::inject_into_metadata(request.metadata_mut());
        Ok(request)
    }
}
