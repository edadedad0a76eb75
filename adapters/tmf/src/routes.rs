//! The adapter's routes: TMF621 (v4, and v5 on the same handlers), TMF656 v4 and the probes.

use axum::{Router, extract::State, middleware, routing::get};

use crate::{
    App,
    error::ApiError,
    http::{PROBLEM_V4, TICKET_V4, TICKET_V5, observe},
    hub, problems, tickets,
};

pub fn router(app: App) -> Router {
    let mut router = Router::new();
    for root in [TICKET_V4, TICKET_V5] {
        router = router
            .route(&format!("{root}/troubleTicket"), get(tickets::list).post(tickets::create))
            // The conformance kit posts to the collection with a trailing slash too.
            .route(&format!("{root}/troubleTicket/"), get(tickets::list).post(tickets::create))
            .route(
                &format!("{root}/troubleTicket/{{id}}"),
                get(tickets::get).patch(tickets::patch).delete(tickets::delete),
            )
            .route(&format!("{root}/hub"), axum::routing::post(hub::register));
    }
    // v5 documents reading a registration; v4 does not.
    router = router
        .route(&format!("{TICKET_V4}/hub/{{id}}"), axum::routing::delete(hub::unregister))
        .route(&format!("{TICKET_V5}/hub/{{id}}"), get(hub::show).delete(hub::unregister));
    router
        .route(&format!("{PROBLEM_V4}/serviceProblem"), get(problems::list).post(problems::create))
        .route(
            &format!("{PROBLEM_V4}/serviceProblem/{{id}}"),
            get(problems::get).patch(problems::patch).delete(problems::delete),
        )
        .route("/health/live", get(async || "ok"))
        .route("/health/ready", get(ready))
        .fallback(async || ApiError::NotFound("resource".into()))
        // A fault that would panic answers 500 in the TMF shape instead of dropping the connection.
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(middleware::from_fn(observe))
        .with_state(app)
}

/// Ready when the adapter's own database answers.
async fn ready(State(app): State<App>) -> Result<&'static str, ApiError> {
    use sea_orm::ConnectionTrait;
    app.db.reader().execute_unprepared("SELECT 1").await?;
    Ok("ok")
}
