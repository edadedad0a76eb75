//! The command line every service binary shares: `--config`, `--development`, `--help`,
//! `--version` and `check-config`, and the start-up around a service's `run` (configuration,
//! telemetry, binding), each failure reported naming what is wrong.

use std::{ffi::OsString, future::Future, io::Write, path::PathBuf, process::ExitCode};

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tokio::net::TcpListener;

use crate::{
    RunError,
    auth::Authenticator,
    calendar::OperatorCalendar,
    client,
    config::{self, ConfigError, Format, ServiceConfig},
    server::terminate_signal,
    telemetry,
};

/// A csm service: serves gRPC until SIGTERM (or Ctrl-C).
///
/// Configuration: built-in defaults, then the shared file (CSM_SHARED_CONFIG), then the service's
/// file (--config), then CSM_<SECTION>__<KEY> environment variables. Unknown keys are refused.
#[derive(Debug, Parser)]
pub struct ServiceArgs {
    /// The service's TOML configuration file.
    #[arg(long, value_name = "FILE", env = "CSM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Start even with no bearer token configured (the same as auth.development = true).
    #[arg(long)]
    pub development: bool,
    #[command(subcommand)]
    pub command: Option<ServiceCommand>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum ServiceCommand {
    /// Check the configuration and print it as in force, secrets masked; exit non-zero, naming
    /// each problem, when the service would refuse it.
    CheckConfig {
        /// How to print it.
        #[arg(long, value_enum, default_value = "toml")]
        format: Format,
    },
}

impl ServiceArgs {
    /// Parses `args` (the program name first) for the binary `name` at `version`.
    pub fn parse_from_for<I, T>(name: &'static str, version: &'static str, args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let command = Self::command().name(name).bin_name(name).version(version);
        Self::from_arg_matches(&command.try_get_matches_from(args)?)
    }

    /// The configuration these arguments select: files and environment, then `--development`.
    pub fn load<C: ServiceConfig>(&self) -> Result<C, ConfigError> {
        let mut config: C = config::load(self.config.as_deref())?;
        if self.development {
            config.common_mut().auth.development = true;
        }
        Ok(config)
    }
}

/// What can be checked without starting: the tokens (and their file), the operator's calendar,
/// and every setting [`problems_of`] names.
pub fn check<C: ServiceConfig>(config: &C) -> Result<(), ConfigError> {
    let common = config.common();
    let mut problems = Vec::new();
    if let Err(error) = Authenticator::from_settings(&common.auth) {
        problems.push(format!("auth: {error}"));
    }
    if let Err(error) = OperatorCalendar::from_settings(&common.calendar) {
        problems.push(error);
    }
    problems.extend(problems_of(config));
    if problems.is_empty() { Ok(()) } else { Err(ConfigError { problems }) }
}

/// Every setting of `config` no service could run with, each naming its key: the shared ones,
/// each upstream given, and the service's own. `check-config` reports them, and
/// [`ServiceRuntime::open`](crate::ServiceRuntime::open) refuses to start on them before it opens
/// the database, so the two cannot disagree.
pub fn problems_of<C: ServiceConfig>(config: &C) -> Vec<String> {
    let common = config.common();
    let mut problems = common.problems();
    for (name, upstream) in config.upstreams() {
        if !upstream.url.is_empty() {
            problems.extend(client::upstream_problems(&format!("upstream.{name}"), upstream, &common.client_tls));
        }
    }
    problems.extend(config.own_problems());
    problems
}

/// Binds `server.listen`, naming the address when it cannot.
pub async fn bind(address: std::net::SocketAddr) -> Result<TcpListener, RunError> {
    TcpListener::bind(address).await.map_err(|source| RunError::Bind { key: "server.listen", address, source })
}

/// A service binary's whole `main`: parses the command line, loads and checks the configuration
/// (printing it for `check-config`), starts telemetry, binds and runs `run` until SIGTERM. Every
/// failure is printed to standard error naming what is wrong, with a non-zero exit code.
pub async fn run_service<C, F, Fut>(name: &'static str, version: &'static str, run: F) -> ExitCode
where
    C: ServiceConfig,
    F: FnOnce(C, TcpListener, std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
    Fut: Future<Output = Result<(), RunError>>,
{
    crate::use_small_pages();
    let args = match ServiceArgs::parse_from_for(name, version, std::env::args_os()) {
        Ok(args) => args,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    let config = match args.load::<C>() {
        Ok(config) => config,
        Err(error) => return refuse(name, "configuration refused", &error.to_string()),
    };
    if let Some(ServiceCommand::CheckConfig { format }) = args.command {
        return match check(&config).and_then(|()| config::render(&config, format)) {
            Ok(text) => match std::io::stdout().lock().write_all(text.as_bytes()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => refuse(name, "writing the configuration", &error.to_string()),
            },
            Err(error) => refuse(name, "configuration refused", &error.to_string()),
        };
    }
    let _telemetry = match telemetry::init(name, &config.common().telemetry) {
        Ok(guard) => guard,
        Err(error) => return refuse(name, "telemetry", &error.to_string()),
    };
    let started = async {
        let listener = bind(config.common().server.listen).await?;
        // A service's future is large; on the heap it does not weigh on main's.
        Box::pin(run(config, listener, Box::pin(terminate_signal()))).await
    };
    match started.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "{name} stopped");
            refuse(name, "error", &error.to_string())
        }
    }
}

fn refuse(name: &str, what: &str, detail: &str) -> ExitCode {
    let detail = detail.lines().collect::<Vec<_>>().join("\n  ");
    let _ = writeln!(std::io::stderr().lock(), "{name}: {what}:\n  {detail}");
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServiceArgs, clap::Error> {
        ServiceArgs::parse_from_for("csm-test", "1.2.3", std::iter::once("csm-test").chain(args.iter().copied()))
    }

    #[test]
    fn flags_and_the_check_config_command_parse() {
        let args = parse(&["--config", "/etc/csm/intake.toml", "--development", "check-config"]).unwrap();
        assert_eq!(args.config, Some(PathBuf::from("/etc/csm/intake.toml")));
        assert!(args.development);
        assert_eq!(args.command, Some(ServiceCommand::CheckConfig { format: Format::Toml }));
        let args = parse(&["check-config", "--format", "json"]).unwrap();
        assert_eq!(args.command, Some(ServiceCommand::CheckConfig { format: Format::Json }));
    }

    #[test]
    fn unknown_flags_are_refused_and_help_and_version_answer() {
        let error = parse(&["--confg", "x.toml"]).unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::UnknownArgument);
        assert!(error.to_string().contains("--confg"), "{error}");
        assert_eq!(parse(&["--help"]).unwrap_err().kind(), clap::error::ErrorKind::DisplayHelp);
        let version = parse(&["--version"]).unwrap_err();
        assert_eq!(version.kind(), clap::error::ErrorKind::DisplayVersion);
        assert!(version.to_string().contains("csm-test 1.2.3"), "{version}");
    }
}
