//! The gRPC face of measurement.

use csm_kit::{Database, Role, auth::Policy};
use csm_proto::measurement::v1::{
    ListIndicatorsRequest, ListIndicatorsResponse, QuerySeriesRequest, Series,
    measurement_service_server::MeasurementService,
};
use tonic::{Request, Response, Status};

use crate::{calendar::Calendar, indicators};

pub use csm_proto::measurement::v1::measurement_service_server::SERVICE_NAME as SERVICE;

pub fn policy() -> Policy {
    use Role::*;
    let readers = [Analyst, Administrator, Department, Agent];
    Policy::new().allow(SERVICE, "ListIndicators", &readers).allow(SERVICE, "QuerySeries", &readers).allow_feed()
}

#[derive(Debug, Clone)]
pub struct MeasurementApi {
    db: Database,
    calendar: Calendar,
}

impl MeasurementApi {
    pub fn new(db: Database, calendar: Calendar) -> Self {
        Self { db, calendar }
    }
}

#[tonic::async_trait]
impl MeasurementService for MeasurementApi {
    async fn list_indicators(
        &self,
        _: Request<ListIndicatorsRequest>,
    ) -> Result<Response<ListIndicatorsResponse>, Status> {
        Ok(Response::new(ListIndicatorsResponse { indicators: indicators::catalogue() }))
    }

    async fn query_series(&self, request: Request<QuerySeriesRequest>) -> Result<Response<Series>, Status> {
        let series = indicators::query_series(self.db.reader(), &self.calendar, request.get_ref()).await?;
        Ok(Response::new(series))
    }
}
