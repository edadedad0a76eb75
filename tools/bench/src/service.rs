//! The service under load runs as its own process, built from the same target directory, on a
//! fresh database, so that what is measured is the service alone: its throughput, latency and
//! memory (peak resident set from /proc), not the load generator's.

use std::{
    net::{SocketAddr, TcpListener},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::Duration,
};

use anyhow::{Context, bail};
use csm_cli::tokens::DevTokens;
use sea_orm::ConnectionTrait;

/// Where the service keeps its data.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// A PostgreSQL server, e.g. `postgres://postgres@127.0.0.1:5432`.
    Postgres(String),
}

/// "SQLite" or "PostgreSQL", for the figures' lines.
pub fn describe(backend: &Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres(_) => "PostgreSQL",
    }
}

pub struct Service {
    pub address: SocketAddr,
    pub tokens: DevTokens,
    /// The service's database URL.
    pub database_url: String,
    child: Child,
    dir: tempfile::TempDir,
    postgres_database: Option<(String, String)>,
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

static BINARIES: OnceLock<PathBuf> = OnceLock::new();

/// Runs the services from `dir` rather than from beside the bench: another build of them (the
/// previous release, say), measured by the same load generator.
pub fn use_binaries_from(dir: PathBuf) {
    let _ = BINARIES.set(dir);
}

/// The binary `name` of the build under test: beside this one unless [`use_binaries_from`] said
/// otherwise.
fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let path = match BINARIES.get() {
        Some(dir) => dir.join(name),
        None => std::env::current_exe()?.with_file_name(name),
    };
    if !path.exists() {
        bail!("{} not found; build it first: cargo build --release -p {name}", path.display());
    }
    Ok(path)
}

impl Service {
    /// Starts `binary` (e.g. "csm-intake") with `env` on top of a fresh database and dev tokens.
    pub async fn start(binary: &str, backend: &Backend, env: &[(&str, String)]) -> anyhow::Result<Self> {
        Self::start_on(binary, backend, env, free_port()?, None).await
    }

    /// As [`Service::start`], listening on `port`, with the dev tokens in `tokens_file` when given
    /// (services of one system share them, so each accepts the others' service token).
    pub async fn start_on(
        binary: &str,
        backend: &Backend,
        env: &[(&str, String)],
        port: u16,
        tokens_file: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("csm-bench-").tempdir()?;
        let tokens_file = tokens_file.unwrap_or_else(|| dir.path().join("tokens.toml"));
        let tokens = DevTokens::load_or_create(&tokens_file)?;
        let (url, postgres_database) = match backend {
            Backend::Sqlite => (format!("sqlite://{}", dir.path().join("service.db").display()), None),
            Backend::Postgres(server) => {
                let server = server.trim_end_matches('/').to_string();
                let name = format!("csm_bench_{}", uuid::Uuid::new_v4().simple());
                (format!("{server}/{name}"), Some((server, name)))
            }
        };
        let mut command = match binary {
            // The bare gRPC server is this bench itself, in a process of its own.
            "bare-server" => {
                let mut command = Command::new(std::env::current_exe()?);
                command.args(["bare-server", "--listen", &format!("127.0.0.1:{port}")]);
                command
            }
            _ => Command::new(sibling(binary)?),
        };
        command
            .env("CSM_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("CSM_DATABASE__URL", &url)
            .env("CSM_AUTH__TOKENS_FILE", &tokens_file)
            .env("CSM_TELEMETRY__LOG_FILTER", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().with_context(|| format!("starting {binary}"))?;
        let service = Self {
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            tokens,
            database_url: url,
            child,
            dir,
            postgres_database,
        };
        // The TM Forum adapter speaks HTTP; the services answer gRPC health checks.
        service.wait_ready(binary == "csm-tmf").await?;
        Ok(service)
    }

    async fn wait_ready(&self, http: bool) -> anyhow::Result<()> {
        for _ in 0..300 {
            let ready = if http {
                let probe = reqwest::get(format!("http://{}/health/ready", self.address)).await;
                probe.is_ok_and(|answer| answer.status().is_success())
            } else {
                serving(self.address).await
            };
            if ready {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("service did not become ready on {}", self.address)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The directory the service's files (its SQLite database among them) are in.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Peak and current resident set of the service, in MiB.
    pub fn memory_mib(&self) -> (f64, f64) {
        memory_mib(self.child.id())
    }

    /// Stops the process (SIGTERM, then SIGKILL), keeping its database for a reference to read.
    pub async fn halt(&mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).stderr(Stdio::null()).status();
        for _ in 0..100 {
            if self.child.try_wait()?.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Ok(())
    }

    /// Stops the service (SIGTERM, then SIGKILL) and drops its PostgreSQL database.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.halt().await?;
        if let Some((server, name)) = self.postgres_database.take() {
            drop_database(&server, &name).await?;
        }
        Ok(())
    }
}

/// Drops the database `name` on the PostgreSQL `server`, ending its sessions.
pub async fn drop_database(server: &str, name: &str) -> anyhow::Result<()> {
    let admin = sea_orm::Database::connect(format!("{server}/postgres")).await?;
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await?;
    Ok(())
}

/// A run that fails before [`Service::stop`] still ends the service, so no process is left
/// holding the port, the database or the terminal's output, and drops its PostgreSQL database,
/// so that failed runs do not pile up databases on the server.
impl Drop for Service {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some((server, name)) = self.postgres_database.take() {
            // Drop cannot await; a thread of its own runs the statement on a runtime of its own.
            let database = name.clone();
            let dropped = std::thread::spawn(move || -> anyhow::Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                runtime.block_on(drop_database(&server, &name))
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                eprintln!("the run's PostgreSQL database {database} was left behind: drop it by hand");
            }
        }
    }
}

/// A health check without a token, as a Kubernetes probe does.
async fn serving(address: SocketAddr) -> bool {
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
    let Ok(channel) = csm_kit::client::channel(&format!("http://{address}")) else {
        return false;
    };
    let answer = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await;
    answer.is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32)
}

/// Peak and current resident set of `process` (a pid, or `self`), in MiB, from
/// `/proc/<process>/status`; zero when it is gone.
pub fn memory_mib(process: impl std::fmt::Display) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}
