//! The gRPC face of measurement.

use csm_kit::{Database, Role, auth::Policy, config::OrganisationSettings, error::Violations, names, time};
use csm_proto::measurement::v1::{
    AnalyzeDriversRequest, Audit, AuditChecklist, BenchmarkGaps, CreateIndicatorRequest, CustomerBase, DriverAnalysis,
    EvaluateProgrammeRequest, GetBenchmarkGapsRequest, GetIndicatorRequest, GetReportRequest, ImportBenchmarkRequest,
    IndexModel, IndexScores, Indicator, IndicatorLink, LinkIndicatorsRequest, ListAuditsRequest, ListAuditsResponse,
    ListIndexModelsRequest, ListIndexModelsResponse, ListIndicatorsRequest, ListIndicatorsResponse, ProgrammeEffect,
    PutAuditChecklistRequest, PutIndexModelRequest, QuerySeriesRequest, RecordAuditRequest, RenderReportRequest,
    RenderedReport, Report, ReportFormat, ScoreIndexRequest, Series, SetCustomerBaseRequest, UpdateIndicatorRequest,
    measurement_service_server::MeasurementService,
};
use tonic::{Request, Response, Status};

use crate::{
    analysis,
    calendar::Calendar,
    catalogue::{self, Catalogue},
    effects,
    error::Error,
    reference, report, series, store,
};

pub use csm_proto::measurement::v1::measurement_service_server::SERVICE_NAME as SERVICE;

pub fn policy() -> Policy {
    use Role::*;
    let readers = [Analyst, Administrator, Department, Agent];
    let analysts = [Analyst, Administrator];
    let mut policy = Policy::new();
    for method in [
        "ListIndicators",
        "GetIndicator",
        "QuerySeries",
        "ListIndexModels",
        "ScoreIndex",
        "GetBenchmarkGaps",
        "ListAudits",
        "GetReport",
        "RenderReport",
        "EvaluateProgramme",
        "LinkIndicators",
        "AnalyzeDrivers",
    ] {
        policy = policy.allow(SERVICE, method, &readers);
    }
    for method in ["ImportBenchmark", "RecordAudit"] {
        policy = policy.audit(SERVICE, method, &analysts);
    }
    for method in ["CreateIndicator", "UpdateIndicator", "SetCustomerBase", "PutIndexModel", "PutAuditChecklist"] {
        policy = policy.audit(SERVICE, method, &[Administrator]);
    }
    policy.allow_feed()
}

#[derive(Debug, Clone)]
pub struct MeasurementApi {
    db: Database,
    calendar: Calendar,
    /// The departments an indicator may be owned by.
    organisation: OrganisationSettings,
}

type Reply<T> = Result<Response<T>, Status>;

fn reply<T>(result: Result<T, Error>) -> Reply<T> {
    result.map(Response::new).map_err(Status::from)
}

impl MeasurementApi {
    pub fn new(db: Database, calendar: Calendar, organisation: OrganisationSettings) -> Self {
        Self { db, calendar, organisation }
    }

    /// The catalogue as stored now: another replica may have changed it. It is a few dozen
    /// small rows, read with each call that needs it.
    async fn catalogue(&self) -> Result<Catalogue, Error> {
        catalogue::load(self.db.reader()).await
    }

    async fn indicator(&self, name: &str) -> Result<Indicator, Error> {
        Ok(self.catalogue().await?.named(name)?.indicator.clone())
    }

    async fn create_indicator(&self, request: CreateIndicatorRequest) -> Result<Indicator, Error> {
        let mut indicator = request.indicator.ok_or_else(|| Violations::one("indicator", "required"))?;
        if indicator.importance == 0.0 {
            indicator.importance = 1.0;
        }
        let formula = catalogue::validate(&indicator, &self.organisation)?;
        indicator.name = names::name_of(names::INDICATORS, &indicator.key);
        indicator.builtin = false;
        if !catalogue::add(self.db.writer(), &self.calendar, &indicator, &formula).await? {
            return Err(Error::AlreadyExists(indicator.name));
        }
        Ok(indicator)
    }

    async fn update_indicator(&self, request: UpdateIndicatorRequest) -> Result<Indicator, Error> {
        let mut current = self.indicator(&request.name).await?;
        let change = request.indicator.unwrap_or_default();
        let mut violations = Violations::new();
        if request.update_mask.is_empty() {
            violations.add("update_mask", "name the fields to change");
        }
        for path in &request.update_mask {
            match path.as_str() {
                "name_zh" => current.name_zh.clone_from(&change.name_zh),
                "name_en" => current.name_en.clone_from(&change.name_en),
                "description" => current.description.clone_from(&change.description),
                "unit" => current.unit.clone_from(&change.unit),
                "owner_department" => current.owner_department.clone_from(&change.owner_department),
                "stage" => current.stage.clone_from(&change.stage),
                "target" => current.target = change.target,
                "warning_threshold" => current.warning_threshold = change.warning_threshold,
                "importance" => current.importance = change.importance,
                other => violations.add("update_mask", format!("{other:?} cannot be changed")),
            }
        }
        violations.into_result()?;
        catalogue::validate(&current, &self.organisation)?;
        catalogue::replace(self.db.writer(), &current).await?;
        Ok(current)
    }

    async fn set_customer_base(&self, request: SetCustomerBaseRequest) -> Result<CustomerBase, Error> {
        let mut violations = Violations::new();
        let region_ok = !request.region.is_empty()
            && request.region.len() <= 32
            && request.region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !region_ok {
            violations.add("region", "1 to 32 letters, digits or '-', as customer profiles carry it");
        }
        if request.customers <= 0 {
            violations.add("customers", "must be positive");
        }
        violations.into_result()?;
        store::set_customer_base(self.db.writer(), &request.region, request.customers).await?;
        let total = store::customer_base(self.db.writer()).await?.values().sum();
        Ok(CustomerBase { region: request.region, customers: request.customers, total_customers: total })
    }

    async fn evaluate_programme(&self, request: EvaluateProgrammeRequest) -> Result<ProgrammeEffect, Error> {
        if request.programme.is_empty() {
            return Err(Violations::one("programme", "required: \"programmes/{id}\"").into());
        }
        let catalogue = self.catalogue().await?;
        let indicators = if request.indicators.is_empty() {
            effects::default_indicators(&catalogue)
        } else {
            request.indicators.iter().map(|name| catalogue.named(name)).collect::<Result<Vec<_>, _>>()?
        };
        let windows = effects::windows(self.db.reader(), &request.programme).await?;
        effects::evaluate(self.db.reader(), &self.calendar, windows, &indicators, time::now_micros()).await
    }

    async fn report(&self, request: &GetReportRequest) -> Result<Report, Error> {
        let catalogue = self.catalogue().await?;
        report::build(self.db.reader(), &self.calendar, &catalogue, request, time::now_micros()).await
    }
}

#[tonic::async_trait]
impl MeasurementService for MeasurementApi {
    async fn list_indicators(&self, _: Request<ListIndicatorsRequest>) -> Reply<ListIndicatorsResponse> {
        reply(
            self.catalogue()
                .await
                .map(|c| ListIndicatorsResponse { indicators: c.entries.into_iter().map(|e| e.indicator).collect() }),
        )
    }

    async fn get_indicator(&self, request: Request<GetIndicatorRequest>) -> Reply<Indicator> {
        reply(self.indicator(&request.get_ref().name).await)
    }

    async fn create_indicator(&self, request: Request<CreateIndicatorRequest>) -> Reply<Indicator> {
        reply(self.create_indicator(request.into_inner()).await)
    }

    async fn update_indicator(&self, request: Request<UpdateIndicatorRequest>) -> Reply<Indicator> {
        reply(self.update_indicator(request.into_inner()).await)
    }

    async fn query_series(&self, request: Request<QuerySeriesRequest>) -> Reply<Series> {
        let result = match self.catalogue().await {
            Ok(catalogue) => series::query(self.db.reader(), &self.calendar, &catalogue, request.get_ref()).await,
            Err(error) => Err(error),
        };
        reply(result)
    }

    async fn set_customer_base(&self, request: Request<SetCustomerBaseRequest>) -> Reply<CustomerBase> {
        reply(self.set_customer_base(request.into_inner()).await)
    }

    async fn put_index_model(&self, request: Request<PutIndexModelRequest>) -> Reply<IndexModel> {
        let model = request.into_inner().model.unwrap_or_default();
        let result = match self.catalogue().await {
            Ok(catalogue) => analysis::index::put(self.db.writer(), &self.calendar, &catalogue, model).await,
            Err(error) => Err(error),
        };
        reply(result)
    }

    async fn list_index_models(&self, _: Request<ListIndexModelsRequest>) -> Reply<ListIndexModelsResponse> {
        reply(analysis::index::list(self.db.reader()).await.map(|models| ListIndexModelsResponse { models }))
    }

    async fn score_index(&self, request: Request<ScoreIndexRequest>) -> Reply<IndexScores> {
        let result = match self.catalogue().await {
            Ok(catalogue) => {
                analysis::index::score(self.db.reader(), &self.calendar, &catalogue, request.get_ref()).await
            }
            Err(error) => Err(error),
        };
        reply(result)
    }

    async fn analyze_drivers(&self, request: Request<AnalyzeDriversRequest>) -> Reply<DriverAnalysis> {
        reply(analysis::drivers::analyze(self.db.reader(), request.get_ref()).await)
    }

    async fn link_indicators(&self, request: Request<LinkIndicatorsRequest>) -> Reply<IndicatorLink> {
        let result = match self.catalogue().await {
            Ok(catalogue) => analysis::link(self.db.reader(), &self.calendar, &catalogue, request.get_ref()).await,
            Err(error) => Err(error),
        };
        reply(result)
    }

    async fn import_benchmark(&self, request: Request<ImportBenchmarkRequest>) -> Reply<BenchmarkGaps> {
        reply(reference::import_benchmark(self.db.writer(), request.get_ref()).await)
    }

    async fn get_benchmark_gaps(&self, request: Request<GetBenchmarkGapsRequest>) -> Reply<BenchmarkGaps> {
        let request = request.get_ref();
        reply(reference::benchmark_gaps(self.db.reader(), &request.competitor, &request.period).await)
    }

    async fn put_audit_checklist(&self, request: Request<PutAuditChecklistRequest>) -> Reply<AuditChecklist> {
        let checklist = request.into_inner().checklist.unwrap_or_default();
        reply(reference::put_checklist(self.db.writer(), checklist).await)
    }

    async fn record_audit(&self, request: Request<RecordAuditRequest>) -> Reply<Audit> {
        reply(reference::record_audit(self.db.writer(), request.get_ref()).await)
    }

    async fn list_audits(&self, request: Request<ListAuditsRequest>) -> Reply<ListAuditsResponse> {
        reply(reference::list_audits(self.db.reader(), request.get_ref()).await)
    }

    async fn evaluate_programme(&self, request: Request<EvaluateProgrammeRequest>) -> Reply<ProgrammeEffect> {
        reply(self.evaluate_programme(request.into_inner()).await)
    }

    async fn get_report(&self, request: Request<GetReportRequest>) -> Reply<Report> {
        reply(self.report(request.get_ref()).await)
    }

    async fn render_report(&self, request: Request<RenderReportRequest>) -> Reply<RenderedReport> {
        let request = request.into_inner();
        let format = ReportFormat::try_from(request.format).unwrap_or_default();
        if format == ReportFormat::Unspecified {
            return Err(Violations::one("format", "CSV or HTML").into_status());
        }
        let result = match self.report(&request.report.unwrap_or_default()).await {
            Ok(report) => report::render(&report, format, &self.calendar),
            Err(error) => Err(error),
        };
        reply(result)
    }
}
