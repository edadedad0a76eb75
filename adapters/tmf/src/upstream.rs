//! The services the adapter calls, each call carrying the caller's own bearer token (and the
//! trace context), so intake's and recovery's roles decide what a TMF caller may do.

use csm_kit::{
    RunError,
    client::{self, CallerInterceptor, Resilient},
    tls::ClientTlsSettings,
};
use csm_proto::{
    intake::v1::intake_service_client::IntakeServiceClient,
    recovery::v1::recovery_service_client::RecoveryServiceClient,
};
use tonic::service::interceptor::InterceptedService;

use crate::{config::Upstreams, error::ApiError, http::Caller};

pub type Calling = InterceptedService<Resilient, CallerInterceptor>;

#[derive(Debug, Clone)]
pub struct Upstream {
    intake: Resilient,
    recovery: Resilient,
}

impl Upstream {
    pub fn new(upstreams: &Upstreams, fallback_tls: &ClientTlsSettings) -> Result<Self, RunError> {
        let channel = |settings: &csm_kit::config::UpstreamSettings| {
            client::channel_with_tls(&settings.url, settings.tls_or(fallback_tls))
                .map_err(|error| RunError::Config(format!("upstream {}: {error}", settings.url)))
        };
        Ok(Self { intake: channel(&upstreams.intake)?, recovery: channel(&upstreams.recovery)? })
    }

    pub fn intake(&self, caller: &Caller) -> Result<IntakeServiceClient<Calling>, ApiError> {
        Ok(IntakeServiceClient::with_interceptor(self.intake.clone(), interceptor(caller)?))
    }

    pub fn recovery(&self, caller: &Caller) -> Result<RecoveryServiceClient<Calling>, ApiError> {
        Ok(RecoveryServiceClient::with_interceptor(self.recovery.clone(), interceptor(caller)?))
    }
}

fn interceptor(caller: &Caller) -> Result<CallerInterceptor, ApiError> {
    CallerInterceptor::new(&caller.token).map_err(|status| ApiError::Unauthenticated(status.message().to_string()))
}
