//! All-in-one mode: the four services and the TM Forum adapter in one process, each on its own port
//! with its own database, talking to each other over gRPC exactly as they do when deployed apart.

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
};

use csm_kit::{
    RunError,
    calendar::CalendarSettings,
    config::{
        AuthSettings, CommonSettings, DatabaseSettings, FeedSettings, ServerSettings, TelemetrySettings,
        UpstreamSettings,
    },
};
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;

#[cfg(test)]
mod tests {
    use super::Ports;

    #[test]
    fn base_zero_means_any_free_port_for_each_service() {
        assert_eq!(Ports::from_base(0), Ports::any());
        assert_eq!(Ports::any().recovery, 0);
        assert_eq!(Ports::from_base(50051).measurement, 50054);
    }
}

/// The four services as each runs (its feed's name) and as its traces name it (`service.name`,
/// as its own binary does): what `csm up` hands to [`csm_kit::telemetry::init_services`] so each
/// service keeps its identity in one process.
pub const TRACE_IDENTITIES: [(&str, &str); 5] = [
    ("intake", "csm-intake"),
    ("classification", "csm-classification"),
    ("recovery", "csm-recovery"),
    ("measurement", "csm-measurement"),
    ("tmf", "csm-tmf"),
];

/// One database URL per service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Databases {
    pub intake: String,
    pub classification: String,
    pub recovery: String,
    pub measurement: String,
    /// The TM Forum adapter's own (hub registrations, queued notifications, the ticket view).
    pub tmf: String,
}

impl Databases {
    /// A SQLite file per service in `dir`.
    pub fn sqlite_in(dir: &Path) -> Self {
        let url = |name: &str| DatabaseSettings::sqlite(dir.join(format!("{name}.db"))).url;
        Self {
            intake: url("intake"),
            classification: url("classification"),
            recovery: url("recovery"),
            measurement: url("measurement"),
            tmf: url("tmf"),
        }
    }
}

/// Where each service listens; port 0 takes any free port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub intake: u16,
    pub classification: u16,
    pub recovery: u16,
    pub measurement: u16,
    /// The TM Forum adapter (REST/JSON).
    pub tmf: u16,
}

impl Ports {
    /// Consecutive ports from `base`: intake, classification, recovery, measurement, then the TM
    /// Forum adapter. Base 0 takes any free port for each.
    pub fn from_base(base: u16) -> Self {
        if base == 0 {
            return Self::any();
        }
        Self {
            intake: base,
            classification: base.saturating_add(1),
            recovery: base.saturating_add(2),
            measurement: base.saturating_add(3),
            tmf: base.saturating_add(4),
        }
    }

    pub fn any() -> Self {
        Self { intake: 0, classification: 0, recovery: 0, measurement: 0, tmf: 0 }
    }
}

/// Everything needed to start the system.
#[derive(Debug, Clone)]
pub struct SystemSpec {
    pub host: IpAddr,
    pub ports: Ports,
    pub databases: Databases,
    pub auth: AuthSettings,
    /// Bearer token with the service role, used by each service to follow the others' feeds.
    pub service_token: String,
    /// How every service's server protects itself (limits, timeouts); each listens on its own
    /// port whatever `listen` says here.
    pub server: ServerSettings,
    pub feed: FeedSettings,
    /// The operator's calendar, the same for the four services.
    pub calendar: CalendarSettings,
    /// Connections per service database pool.
    pub pool_size: u32,
    /// Recovery's rules (escalation, callbacks, care).
    pub recovery: csm_recovery::config::RecoverySettings,
    /// The clock recovery judges deadlines by.
    pub clock: csm_kit::time::Clock,
    /// Classification's risk settings (the cool-down, retraining from outcomes by itself).
    pub risk: csm_classification::config::RiskSettings,
    /// Measurement's settings.
    pub measurement: csm_measurement::config::MeasurementSettings,
    /// The TM Forum adapter's settings (public address, notification delivery).
    pub tmf: csm_tmf::config::TmfSettings,
    /// Where the process serves its metrics (all four services on one endpoint), if anywhere.
    pub metrics_address: Option<SocketAddr>,
}

/// The addresses the services listen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    pub intake: SocketAddr,
    pub classification: SocketAddr,
    pub recovery: SocketAddr,
    pub measurement: SocketAddr,
    pub tmf: SocketAddr,
}

/// `http://host:port` for an address.
pub fn url(address: SocketAddr) -> String {
    format!("http://{address}")
}

#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    #[error("binding {service} on {address}: {source}")]
    Bind { service: &'static str, address: SocketAddr, source: std::io::Error },
    #[error("{service}: {source}")]
    Service { service: &'static str, source: RunError },
    #[error("a service task failed: {0}")]
    Task(String),
}

/// The four services, running.
#[derive(Debug)]
pub struct RunningSystem {
    pub addresses: Addresses,
    stop: CancellationToken,
    tasks: JoinSet<(&'static str, Result<(), RunError>)>,
}

async fn bind(service: &'static str, host: IpAddr, port: u16) -> Result<TcpListener, SystemError> {
    let address = SocketAddr::new(host, port);
    TcpListener::bind(address).await.map_err(|source| SystemError::Bind { service, address, source })
}

fn local(listener: &TcpListener, service: &'static str, fallback: SocketAddr) -> Result<SocketAddr, SystemError> {
    listener.local_addr().map_err(|source| SystemError::Bind { service, address: fallback, source })
}

impl SystemSpec {
    /// SQLite files under `data_dir`, any free ports on 127.0.0.1.
    pub fn local(data_dir: &Path, auth: AuthSettings, service_token: &str) -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            ports: Ports::any(),
            databases: Databases::sqlite_in(data_dir),
            auth,
            service_token: service_token.to_string(),
            server: ServerSettings::default(),
            feed: FeedSettings::default(),
            calendar: CalendarSettings::default(),
            pool_size: DatabaseSettings::default().max_connections,
            recovery: csm_recovery::config::RecoverySettings::default(),
            clock: csm_kit::time::Clock::system(),
            risk: csm_classification::config::RiskSettings::default(),
            measurement: csm_measurement::config::MeasurementSettings::default(),
            tmf: csm_tmf::config::TmfSettings::default(),
            metrics_address: None,
        }
    }

    /// The shared settings of one service of this system.
    pub fn common(&self, listen: SocketAddr, database: &str) -> CommonSettings {
        CommonSettings {
            server: ServerSettings { listen, ..self.server.clone() },
            database: DatabaseSettings { url: database.to_string(), ..DatabaseSettings::default() },
            auth: self.auth.clone(),
            feed: self.feed.clone(),
            calendar: self.calendar.clone(),
            telemetry: TelemetrySettings { metrics_address: self.metrics_address, ..TelemetrySettings::default() },
            ..CommonSettings::default()
        }
    }

    /// Binds the four ports, then starts the services.
    pub async fn start(&self) -> Result<RunningSystem, SystemError> {
        let intake = bind("intake", self.host, self.ports.intake).await?;
        let classification = bind("classification", self.host, self.ports.classification).await?;
        let recovery = bind("recovery", self.host, self.ports.recovery).await?;
        let measurement = bind("measurement", self.host, self.ports.measurement).await?;
        let tmf = bind("tmf", self.host, self.ports.tmf).await?;
        let unspecified = SocketAddr::new(self.host, 0);
        let addresses = Addresses {
            intake: local(&intake, "intake", unspecified)?,
            classification: local(&classification, "classification", unspecified)?,
            recovery: local(&recovery, "recovery", unspecified)?,
            measurement: local(&measurement, "measurement", unspecified)?,
            tmf: local(&tmf, "tmf", unspecified)?,
        };
        let upstream = |address| UpstreamSettings::new(url(address), self.service_token.clone());

        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let config = csm_intake::Config {
            common: self.common(addresses.intake, &self.databases.intake),
            upstream: csm_intake::config::Upstreams { classification: upstream(addresses.classification) },
            ..Default::default()
        };
        tasks.spawn(named("intake", csm_intake::run(config, intake, stop.clone().cancelled_owned())));

        let config = csm_classification::Config {
            common: self.common(addresses.classification, &self.databases.classification),
            upstream: csm_classification::config::Upstreams {
                intake: upstream(addresses.intake),
                // Only to learn outcomes for the risk model; no write waits for it.
                recovery: upstream(addresses.recovery),
            },
            risk: self.risk,
            ..Default::default()
        };
        tasks.spawn(named(
            "classification",
            csm_classification::run(config, classification, stop.clone().cancelled_owned()),
        ));

        let config = csm_recovery::Config {
            common: self.common(addresses.recovery, &self.databases.recovery),
            upstream: csm_recovery::config::Upstreams {
                intake: upstream(addresses.intake),
                classification: upstream(addresses.classification),
            },
            recovery: self.recovery.clone(),
        };
        let run = csm_recovery::run_with_clock(config, self.clock.clone(), recovery, stop.clone().cancelled_owned());
        tasks.spawn(named("recovery", run));

        let config = csm_measurement::Config {
            common: self.common(addresses.measurement, &self.databases.measurement),
            upstream: csm_measurement::config::Upstreams {
                intake: upstream(addresses.intake),
                classification: upstream(addresses.classification),
                recovery: upstream(addresses.recovery),
            },
            measurement: self.measurement.clone(),
        };
        let clock = self.clock.clone();
        tasks.spawn(named(
            "measurement",
            csm_measurement::run_with_clock(config, measurement, stop.clone().cancelled_owned(), clock),
        ));

        let config = csm_tmf::Config {
            common: self.common(addresses.tmf, &self.databases.tmf),
            upstream: csm_tmf::config::Upstreams {
                intake: upstream(addresses.intake),
                recovery: upstream(addresses.recovery),
            },
            tmf: self.tmf.clone(),
        };
        tasks.spawn(named("tmf", csm_tmf::run(config, tmf, stop.clone().cancelled_owned())));

        Ok(RunningSystem { addresses, stop, tasks })
    }
}

/// A service's result, labelled with its name.
async fn named(
    service: &'static str,
    run: impl Future<Output = Result<(), RunError>>,
) -> (&'static str, Result<(), RunError>) {
    (service, run.await)
}

impl RunningSystem {
    /// Waits until `shutdown` completes or a service stops on its own (which is an error), then
    /// stops them all.
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>) -> Result<(), SystemError> {
        let early = tokio::select! {
            () = shutdown => None,
            finished = self.tasks.join_next() => finished,
        };
        self.stop.cancel();
        let mut outcome = match early {
            Some(result) => Self::judge(result).and(Err(SystemError::Task("a service stopped unexpectedly".into()))),
            None => Ok(()),
        };
        while let Some(result) = self.tasks.join_next().await {
            if let Err(error) = Self::judge(result) {
                tracing::error!("{error}");
                if outcome.is_ok() {
                    outcome = Err(error);
                }
            }
        }
        outcome
    }

    /// Stops every service gracefully and waits for them.
    pub async fn shutdown(self) -> Result<(), SystemError> {
        self.run_until(std::future::ready(())).await
    }

    fn judge(result: Result<(&'static str, Result<(), RunError>), tokio::task::JoinError>) -> Result<(), SystemError> {
        match result {
            Ok((_, Ok(()))) => Ok(()),
            Ok((service, Err(source))) => Err(SystemError::Service { service, source }),
            Err(join) => Err(SystemError::Task(join.to_string())),
        }
    }
}

/// The default data directory of `csm up`.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
