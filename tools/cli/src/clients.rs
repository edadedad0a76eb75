//! Generated gRPC clients for each service, carrying a bearer token and trace context.

use std::net::SocketAddr;

use csm_kit::client::Resilient;
use csm_kit::client::{self, CallerInterceptor};
use csm_proto::{
    classification::v1::classification_service_client::ClassificationServiceClient, feed::v1::feed_client::FeedClient,
    intake::v1::intake_service_client::IntakeServiceClient,
    measurement::v1::measurement_service_client::MeasurementServiceClient,
    recovery::v1::recovery_service_client::RecoveryServiceClient,
};
use tonic::service::interceptor::InterceptedService;

use crate::system::url;

/// A channel that authenticates as the holder of a token.
pub type Authenticated = InterceptedService<Resilient, CallerInterceptor>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("address: {0}")]
    Address(#[from] tonic::transport::Error),
    #[error("token: {0}")]
    Token(#[from] tonic::Status),
}

fn authenticated(address: SocketAddr, token: &str) -> Result<Authenticated, ClientError> {
    let channel = client::channel(&url(address))?;
    Ok(InterceptedService::new(channel, CallerInterceptor::new(token)?))
}

pub fn intake(address: SocketAddr, token: &str) -> Result<IntakeServiceClient<Authenticated>, ClientError> {
    Ok(IntakeServiceClient::new(authenticated(address, token)?))
}

pub fn classification(
    address: SocketAddr,
    token: &str,
) -> Result<ClassificationServiceClient<Authenticated>, ClientError> {
    Ok(ClassificationServiceClient::new(authenticated(address, token)?))
}

pub fn recovery(address: SocketAddr, token: &str) -> Result<RecoveryServiceClient<Authenticated>, ClientError> {
    Ok(RecoveryServiceClient::new(authenticated(address, token)?))
}

pub fn measurement(address: SocketAddr, token: &str) -> Result<MeasurementServiceClient<Authenticated>, ClientError> {
    Ok(MeasurementServiceClient::new(authenticated(address, token)?))
}

pub fn feed(address: SocketAddr, token: &str) -> Result<FeedClient<Authenticated>, ClientError> {
    Ok(FeedClient::new(authenticated(address, token)?))
}
