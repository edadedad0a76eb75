//! The gRPC face of measurement.

use csm_kit::{
    Database, Role, auth::Policy, config::OrganisationSettings, error::Violations, handler::serve, names, time,
};
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
        self.report_of(&self.catalogue().await?, request).await
    }

    /// The report, read in one snapshot so that its parts (indicators, Pareto, breakdowns) count
    /// the same work orders even while a feed batch commits.
    async fn report_of(&self, catalogue: &Catalogue, request: &GetReportRequest) -> Result<Report, Error> {
        let snapshot = self.db.read_snapshot().await?;
        let report =
            report::build(&snapshot, &self.calendar, catalogue, &self.organisation, request, time::now_micros())
                .await?;
        snapshot.commit().await?;
        Ok(report)
    }
}

impl MeasurementApi {
    async fn indicators(&self) -> Result<ListIndicatorsResponse, Error> {
        let catalogue = self.catalogue().await?;
        Ok(ListIndicatorsResponse { indicators: catalogue.entries.into_iter().map(|e| e.indicator).collect() })
    }

    async fn series(&self, request: &QuerySeriesRequest) -> Result<Series, Error> {
        series::query(self.db.reader(), &self.calendar, &self.catalogue().await?, request).await
    }

    async fn put_index_model(&self, request: PutIndexModelRequest) -> Result<IndexModel, Error> {
        let catalogue = self.catalogue().await?;
        analysis::index::put(self.db.writer(), &self.calendar, &catalogue, request.model.unwrap_or_default()).await
    }

    async fn index_models(&self) -> Result<ListIndexModelsResponse, Error> {
        Ok(ListIndexModelsResponse { models: analysis::index::list(self.db.reader()).await? })
    }

    async fn score_index(&self, request: &ScoreIndexRequest) -> Result<IndexScores, Error> {
        analysis::index::score(self.db.reader(), &self.calendar, &self.catalogue().await?, request).await
    }

    async fn link_indicators(&self, request: &LinkIndicatorsRequest) -> Result<IndicatorLink, Error> {
        analysis::link(self.db.reader(), &self.calendar, &self.catalogue().await?, request).await
    }

    async fn render_report(&self, request: RenderReportRequest) -> Result<RenderedReport, Error> {
        let format = ReportFormat::try_from(request.format).unwrap_or_default();
        if format == ReportFormat::Unspecified {
            return Err(Violations::one("format", "CSV or HTML").into());
        }
        let catalogue = self.catalogue().await?;
        let request = request.report.unwrap_or_default();
        let report = self.report_of(&catalogue, &request).await?;
        let (calendar, stages) = (self.calendar, report::stages(&catalogue));
        csm_kit::cpu::run("report rendering", move || report::render(&report, format, &calendar, &stages)).await?
    }
}

#[tonic::async_trait]
impl MeasurementService for MeasurementApi {
    async fn list_indicators(&self, request: Request<ListIndicatorsRequest>) -> Reply<ListIndicatorsResponse> {
        serve(request, async |_, _| self.indicators().await).await
    }

    async fn get_indicator(&self, request: Request<GetIndicatorRequest>) -> Reply<Indicator> {
        serve(request, async |_, body| self.indicator(&body.name).await).await
    }

    async fn create_indicator(&self, request: Request<CreateIndicatorRequest>) -> Reply<Indicator> {
        serve(request, async |_, body| self.create_indicator(body).await).await
    }

    async fn update_indicator(&self, request: Request<UpdateIndicatorRequest>) -> Reply<Indicator> {
        serve(request, async |_, body| self.update_indicator(body).await).await
    }

    async fn query_series(&self, request: Request<QuerySeriesRequest>) -> Reply<Series> {
        serve(request, async |_, body| self.series(&body).await).await
    }

    async fn set_customer_base(&self, request: Request<SetCustomerBaseRequest>) -> Reply<CustomerBase> {
        serve(request, async |_, body| self.set_customer_base(body).await).await
    }

    async fn put_index_model(&self, request: Request<PutIndexModelRequest>) -> Reply<IndexModel> {
        serve(request, async |_, body| self.put_index_model(body).await).await
    }

    async fn list_index_models(&self, request: Request<ListIndexModelsRequest>) -> Reply<ListIndexModelsResponse> {
        serve(request, async |_, _| self.index_models().await).await
    }

    async fn score_index(&self, request: Request<ScoreIndexRequest>) -> Reply<IndexScores> {
        serve(request, async |_, body| self.score_index(&body).await).await
    }

    async fn analyze_drivers(&self, request: Request<AnalyzeDriversRequest>) -> Reply<DriverAnalysis> {
        serve(request, async |_, body| analysis::drivers::analyze(self.db.reader(), &body).await).await
    }

    async fn link_indicators(&self, request: Request<LinkIndicatorsRequest>) -> Reply<IndicatorLink> {
        serve(request, async |_, body| self.link_indicators(&body).await).await
    }

    async fn import_benchmark(&self, request: Request<ImportBenchmarkRequest>) -> Reply<BenchmarkGaps> {
        serve(request, async |_, body| reference::import_benchmark(self.db.writer(), &body).await).await
    }

    async fn get_benchmark_gaps(&self, request: Request<GetBenchmarkGapsRequest>) -> Reply<BenchmarkGaps> {
        serve(request, async |_, body| {
            reference::benchmark_gaps(self.db.reader(), &body.competitor, &body.period).await
        })
        .await
    }

    async fn put_audit_checklist(&self, request: Request<PutAuditChecklistRequest>) -> Reply<AuditChecklist> {
        serve(request, async |_, body| {
            reference::put_checklist(self.db.writer(), body.checklist.unwrap_or_default()).await
        })
        .await
    }

    async fn record_audit(&self, request: Request<RecordAuditRequest>) -> Reply<Audit> {
        serve(request, async |_, body| reference::record_audit(self.db.writer(), &body).await).await
    }

    async fn list_audits(&self, request: Request<ListAuditsRequest>) -> Reply<ListAuditsResponse> {
        serve(request, async |_, body| reference::list_audits(self.db.reader(), &body).await).await
    }

    async fn evaluate_programme(&self, request: Request<EvaluateProgrammeRequest>) -> Reply<ProgrammeEffect> {
        serve(request, async |_, body| self.evaluate_programme(body).await).await
    }

    async fn get_report(&self, request: Request<GetReportRequest>) -> Reply<Report> {
        serve(request, async |_, body| self.report(&body).await).await
    }

    async fn render_report(&self, request: Request<RenderReportRequest>) -> Reply<RenderedReport> {
        serve(request, async |_, body| self.render_report(body).await).await
    }
}
