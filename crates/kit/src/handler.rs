//! The one shape of a gRPC handler in every service: the trait method names its operation and
//! nothing else. [`serve`] finds the authenticated caller, hands the operation the request body,
//! and turns the operation's typed error into a status through the service's one `From` impl, so
//! no handler converts errors, builds responses or reads metadata by hand.
//!
//! ```ignore
//! async fn get_case(&self, request: Request<GetCaseRequest>) -> Result<Response<Case>, Status> {
//!     serve(request, async |caller, body| self.cases.get(&body.name, &caller).await).await
//! }
//! ```

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::Principal;

/// Runs `operation` for the caller of `request` on its body.
pub async fn serve<T, R, E>(
    request: Request<T>,
    operation: impl AsyncFnOnce(Arc<Principal>, T) -> Result<R, E>,
) -> Result<Response<R>, Status>
where
    Status: From<E>,
{
    let caller = Principal::of(&request)?;
    Ok(Response::new(operation(caller, request.into_inner()).await?))
}
