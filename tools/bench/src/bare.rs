//! The bare framework: a tonic server that answers intake's `SubmitContact` with the contact and
//! work order made from the request and nothing else (no validation, no database, no feed), run as
//! a process of its own like a service. What a service reaches as a share of this server's rate, in
//! the same run, is the part of its cost that is its own.

use std::{
    convert::Infallible,
    net::SocketAddr,
    task::{Context, Poll},
};

use csm_proto::intake::v1::{Contact, SubmitContactRequest, SubmitContactResponse, WorkOrder};
use futures_util::future::BoxFuture;
use tonic::{Request, Response, Status, body::Body, server::NamedService};

/// Every call, whatever its path, is a `SubmitContact`: the load generator sends nothing else.
#[derive(Clone)]
struct Bare;

impl NamedService for Bare {
    const NAME: &'static str = "csm.intake.v1.IntakeService";
}

impl tower::Service<http::Request<Body>> for Bare {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
            Ok(grpc.unary(tower::service_fn(answer), request).await)
        })
    }
}

/// The response a service would give: the request's fields moved into a contact and its order.
async fn answer(request: Request<SubmitContactRequest>) -> Result<Response<SubmitContactResponse>, Status> {
    let r = request.into_inner();
    let id = uuid::Uuid::now_v7().simple().to_string();
    let work_order = WorkOrder {
        name: format!("workOrders/{id}"),
        contact: format!("contacts/{id}"),
        channel: r.channel,
        contact_type: r.contact_type,
        phone_number: r.phone_number.clone(),
        text: r.text.clone(),
        open_time: r.occurred_at,
        customer_profile: r.customer_profile.clone(),
        ..Default::default()
    };
    let contact = Contact {
        name: format!("contacts/{id}"),
        request_id: r.request_id,
        channel: r.channel,
        contact_type: r.contact_type,
        phone_number: r.phone_number,
        text: r.text,
        occurred_at: r.occurred_at,
        problem_code: r.problem_code,
        customer_profile: r.customer_profile,
        ..Default::default()
    };
    Ok(Response::new(SubmitContactResponse { contact: Some(contact), work_order: Some(work_order) }))
}

/// Serves until killed, with a health service for the readiness probe.
pub async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    let (_reporter, health) = tonic_health::server::health_reporter();
    tonic::transport::Server::builder().add_service(health).add_service(Bare).serve(listen).await?;
    Ok(())
}
