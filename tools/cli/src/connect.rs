//! Where the services are and who is calling: the connection options every subcommand that talks
//! to running services shares, the clients they open, and failed calls turned into errors that say
//! what to do next.

use std::path::{Path, PathBuf};

use csm_kit::{
    client::{self, CallerInterceptor},
    tls::ClientTlsSettings,
};
use csm_proto::{
    classification::v1::classification_service_client::ClassificationServiceClient, feed::v1::feed_client::FeedClient,
    intake::v1::intake_service_client::IntakeServiceClient,
    measurement::v1::measurement_service_client::MeasurementServiceClient,
    recovery::v1::recovery_service_client::RecoveryServiceClient,
};
use tonic::{Code, Status, service::interceptor::InterceptedService};
use tonic_types::StatusExt;

use crate::{clients::Authenticated, tokens::DevTokens};

/// Where `csm up` keeps the development tokens, read when no token is given otherwise.
pub const DEFAULT_TOKENS_FILE: &str = "data/tokens.toml";

/// Where `csm up` puts intake.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:50051";

/// Reports and labelled sets can be larger than gRPC's default 4 MiB message.
const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// How to reach the running services and as whom.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// Intake's address (host:port, or an http:// or https:// URL) [default: 127.0.0.1:50051];
    /// classification, recovery and measurement are on the next three ports, as `csm up` lays
    /// them out.
    #[arg(long, env = "CSM_ADDRESS", global = true)]
    pub address: Option<String>,
    /// Classification's address, when not on intake's port + 1.
    #[arg(long, env = "CSM_CLASSIFICATION_ADDRESS", global = true)]
    pub classification: Option<String>,
    /// Recovery's address, when not on intake's port + 2.
    #[arg(long, env = "CSM_RECOVERY_ADDRESS", global = true)]
    pub recovery: Option<String>,
    /// Measurement's address, when not on intake's port + 3.
    #[arg(long, env = "CSM_MEASUREMENT_ADDRESS", global = true)]
    pub measurement: Option<String>,
    /// The bearer token to call with.
    #[arg(long, env = "CSM_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// A tokens file with clear tokens (as `csm up` writes in data/tokens.toml); the token of
    /// `--as` is used. Without --token or --tokens, data/tokens.toml is read when it exists.
    #[arg(long, env = "CSM_TOKENS", value_name = "FILE", global = true)]
    pub tokens: Option<PathBuf>,
    /// Whose token to take from the tokens file.
    #[arg(long = "as", env = "CSM_AS", value_name = "SUBJECT", default_value = "administrator", global = true)]
    pub subject: String,
    /// PEM certificate of the authority that signed the services' certificates (https:// only).
    #[arg(long, env = "CSM_CA_FILE", value_name = "FILE", global = true)]
    pub ca_file: Option<PathBuf>,
}

/// The four services and their place after intake's port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Service {
    Intake,
    Classification,
    Recovery,
    Measurement,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Intake => "intake",
            Service::Classification => "classification",
            Service::Recovery => "recovery",
            Service::Measurement => "measurement",
        }
    }

    fn offset(self) -> u16 {
        match self {
            Service::Intake => 0,
            Service::Classification => 1,
            Service::Recovery => 2,
            Service::Measurement => 3,
        }
    }
}

/// One service at its URL, for calls and for errors that name it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub service: Service,
    pub url: String,
}

impl Endpoint {
    /// A failed call as an error saying what to fix: start the system, pick another token, or
    /// correct the fields the service names.
    pub fn error(&self, method: &str, status: &Status) -> anyhow::Error {
        let (service, url) = (self.service.name(), &self.url);
        let message = status.message();
        let text = match status.code() {
            Code::Unavailable => {
                format!(
                    "cannot reach {service} at {url} ({message}): is the system running? Start it with `csm up`, \
                     or give its address with --address (or --{service})"
                )
            }
            Code::Unauthenticated => format!(
                "{service} at {url} refused the token ({message}): give a token the deployment knows with \
                 --token, or --tokens FILE --as SUBJECT"
            ),
            Code::PermissionDenied => format!(
                "{service} refused {method} to this caller ({message}): call as a subject whose role may \
                 (--as, or another --token); docs/cli.md lists which role each command needs"
            ),
            Code::InvalidArgument => {
                let mut text = format!("{service} refused {method}: {message}");
                if let Some(bad) = status.get_details_bad_request() {
                    for violation in bad.field_violations {
                        text.push_str(&format!("\n  {}: {}", violation.field, violation.description));
                    }
                }
                text
            }
            code => format!("{service} {method} failed ({code:?}): {message}"),
        };
        anyhow::anyhow!(text)
    }
}

/// Open clients, authenticated as one caller.
#[derive(Debug, Clone)]
pub struct Connected {
    token: String,
    tls: ClientTlsSettings,
    intake: String,
    others: [Option<String>; 3],
}

impl Connection {
    /// The caller's token and the services' URLs.
    pub fn connect(&self) -> anyhow::Result<Connected> {
        let token = self.token()?;
        let intake = normalise(self.address.as_deref().unwrap_or(DEFAULT_ADDRESS))?;
        let others = [&self.classification, &self.recovery, &self.measurement]
            .map(|given| given.as_deref().map(normalise).transpose());
        let [classification, recovery, measurement] = others;
        Ok(Connected {
            token,
            tls: ClientTlsSettings { ca_file: self.ca_file.clone(), ..ClientTlsSettings::default() },
            intake,
            others: [classification?, recovery?, measurement?],
        })
    }

    fn token(&self) -> anyhow::Result<String> {
        if let Some(token) = self.token.as_ref().filter(|t| !t.is_empty()) {
            return Ok(token.clone());
        }
        let default = Path::new(DEFAULT_TOKENS_FILE);
        let file = match &self.tokens {
            Some(file) => file.as_path(),
            None if default.exists() => default,
            None => anyhow::bail!(
                "no token: give --token (or CSM_TOKEN), or --tokens FILE --as SUBJECT; `csm up` writes {DEFAULT_TOKENS_FILE}"
            ),
        };
        token_of(file, &self.subject)
    }
}

/// The clear token of `subject` in a tokens file.
pub fn token_of(file: &Path, subject: &str) -> anyhow::Result<String> {
    let tokens = DevTokens::load(file).map_err(|e| anyhow::anyhow!("reading tokens from {}: {e}", file.display()))?;
    if let Some(token) = tokens.of(subject) {
        return Ok(token.to_string());
    }
    let subjects: Vec<&str> = tokens.tokens.iter().map(|t| t.subject.as_str()).collect();
    if subjects.contains(&subject) {
        anyhow::bail!(
            "{} keeps only the SHA-256 of {subject}'s token: give the token itself with --token",
            file.display()
        );
    }
    anyhow::bail!("no token for {subject:?} in {}; its subjects: {}", file.display(), subjects.join(", "))
}

/// `http://host:port` for `host:port`; URLs as given.
fn normalise(address: &str) -> anyhow::Result<String> {
    let address = address.trim().trim_end_matches('/');
    let url = if address.starts_with("http://") || address.starts_with("https://") {
        address.to_string()
    } else {
        format!("http://{address}")
    };
    let (_, port) = split_port(&url)
        .ok_or_else(|| anyhow::anyhow!("address {address:?}: give host:port, for example 127.0.0.1:50051"))?;
    if port == 0 {
        anyhow::bail!("address {address:?}: the port must not be 0");
    }
    Ok(url)
}

/// The URL without its port, and the port.
fn split_port(url: &str) -> Option<(&str, u16)> {
    let (head, port) = url.rsplit_once(':')?;
    if head.ends_with("//") || head.ends_with(':') {
        return None;
    }
    Some((head, port.parse().ok()?))
}

impl Connected {
    /// The URL of `service`: as given, or on intake's port plus its place.
    pub fn endpoint(&self, service: Service) -> Endpoint {
        let given = match service {
            Service::Intake => Some(self.intake.clone()),
            Service::Classification => self.others[0].clone(),
            Service::Recovery => self.others[1].clone(),
            Service::Measurement => self.others[2].clone(),
        };
        let url = given.unwrap_or_else(|| match split_port(&self.intake) {
            Some((head, port)) => format!("{head}:{}", port.saturating_add(service.offset())),
            None => self.intake.clone(),
        });
        Endpoint { service, url }
    }

    fn channel(&self, service: Service) -> anyhow::Result<(Authenticated, Endpoint)> {
        let endpoint = self.endpoint(service);
        let channel = client::channel_with_tls(&endpoint.url, &self.tls)
            .map_err(|e| anyhow::anyhow!("{} at {}: {e}", service.name(), endpoint.url))?;
        let interceptor =
            CallerInterceptor::new(&self.token).map_err(|e| anyhow::anyhow!("the token: {}", e.message()))?;
        Ok((InterceptedService::new(channel, interceptor), endpoint))
    }

    pub fn intake(&self) -> anyhow::Result<(IntakeServiceClient<Authenticated>, Endpoint)> {
        let (channel, endpoint) = self.channel(Service::Intake)?;
        Ok((IntakeServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES), endpoint))
    }

    pub fn classification(&self) -> anyhow::Result<(ClassificationServiceClient<Authenticated>, Endpoint)> {
        let (channel, endpoint) = self.channel(Service::Classification)?;
        let client = ClassificationServiceClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Ok((client, endpoint))
    }

    pub fn recovery(&self) -> anyhow::Result<(RecoveryServiceClient<Authenticated>, Endpoint)> {
        let (channel, endpoint) = self.channel(Service::Recovery)?;
        Ok((RecoveryServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES), endpoint))
    }

    pub fn measurement(&self) -> anyhow::Result<(MeasurementServiceClient<Authenticated>, Endpoint)> {
        let (channel, endpoint) = self.channel(Service::Measurement)?;
        Ok((MeasurementServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES), endpoint))
    }

    pub fn feed(&self, service: Service) -> anyhow::Result<(FeedClient<Authenticated>, Endpoint)> {
        let (channel, endpoint) = self.channel(service)?;
        Ok((FeedClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES), endpoint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected(address: &str) -> Connected {
        Connected {
            token: "t".into(),
            tls: ClientTlsSettings::default(),
            intake: normalise(address).unwrap(),
            others: [None, None, None],
        }
    }

    #[test]
    fn the_other_services_are_on_the_next_three_ports() {
        let c = connected("127.0.0.1:50051");
        assert_eq!(c.endpoint(Service::Intake).url, "http://127.0.0.1:50051");
        assert_eq!(c.endpoint(Service::Measurement).url, "http://127.0.0.1:50054");
        let c = connected("https://csm.example:7000/");
        assert_eq!(c.endpoint(Service::Recovery).url, "https://csm.example:7002");
    }

    #[test]
    fn an_address_without_a_port_is_refused_with_an_example() {
        let error = normalise("localhost").unwrap_err().to_string();
        assert!(error.contains("host:port"), "{error}");
        assert!(normalise("http://[::1]:50051").is_ok());
    }
}
