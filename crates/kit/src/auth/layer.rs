//! The tower layer in front of every service: authenticates the caller, checks the policy, and
//! writes the audit record of administrative calls.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use tower::{Layer, Service};

use super::{Authenticator, Policy, Principal, Role};

/// Tower layer that authenticates and authorises every call before it reaches a service.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    authenticator: Arc<Authenticator>,
    policy: Arc<Policy>,
}

impl AuthLayer {
    pub fn new(authenticator: Authenticator, policy: Policy) -> Self {
        Self { authenticator: Arc::new(authenticator), policy: Arc::new(policy) }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, layer: self.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    layer: AuthLayer,
}

impl<S, B, ResBody> Service<Request<B>> for AuthService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures_util::future::BoxFuture<'static, Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let path = request.uri().path().to_string();
        // Health and reflection are open; a method this server does not serve goes on to the
        // router, which answers UNIMPLEMENTED as gRPC expects, token or not.
        if Policy::is_open(&path) || !self.layer.policy.governs(&path) {
            return Box::pin(self.inner.call(request));
        }
        let decision =
            self.layer.authenticator.authenticate(request.headers().get(http::header::AUTHORIZATION)).and_then(
                |principal| {
                    self.layer.policy.check(&path, &principal)?;
                    Ok(principal)
                },
            );
        let audited = self.layer.policy.audited.contains(&path);
        match decision {
            Ok(principal) => {
                tracing::Span::current().record("enduser.id", principal.subject.as_str());
                request.extensions_mut().insert(principal.clone());
                let response = self.inner.call(request);
                if !audited {
                    return Box::pin(response);
                }
                Box::pin(async move {
                    let response = response.await;
                    let code = match &response {
                        Ok(response) => grpc_code(response.headers()),
                        Err(_) => "UNKNOWN".into(),
                    };
                    write_audit(&path, Some(&principal), &code);
                    response
                })
            }
            Err(status) => {
                tracing::debug!(path, code = ?status.code(), "call refused: {}", status.message());
                if audited {
                    write_audit(&path, None, &format!("{:?}", status.code()));
                }
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}

/// The outcome of a unary call as its response headers tell it: an error travels there, a success
/// in the trailers after the body.
fn grpc_code(headers: &http::HeaderMap) -> String {
    match headers.get("grpc-status").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i32>().ok()) {
        None | Some(0) => "Ok".into(),
        Some(code) => format!("{:?}", tonic::Code::from_i32(code)),
    }
}

/// One record of the audit log of administrative changes.
fn write_audit(method: &str, principal: Option<&Principal>, outcome: &str) {
    match principal {
        Some(p) => {
            let roles: Vec<String> = p.roles.iter().map(Role::to_string).collect();
            tracing::info!(target: "csm::audit", method, subject = %p.subject, roles = %roles.join(","), department = p.department.as_deref().unwrap_or(""), outcome, "administrative call");
        }
        None => tracing::info!(target: "csm::audit", method, subject = "", outcome, "administrative call refused"),
    }
}
