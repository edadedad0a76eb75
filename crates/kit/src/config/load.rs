//! Reading a service's configuration strictly: every key of every file and `CSM_<SECTION>__<KEY>`
//! variable must be one the service knows, and a value it cannot read is reported with its key,
//! the value and where it came from.

use std::path::{Path, PathBuf};

use figment::Metadata;
use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
    value::{Dict, Value},
};
use serde::{Serialize, de::DeserializeOwned};

use super::CommonSettings;

/// Configuration that cannot be used, with every problem found, one per line, each naming its
/// key (and value) and the file or environment variable it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl ConfigError {
    pub fn new(problem: impl Into<String>) -> Self {
        Self { problems: vec![problem.into()] }
    }
}

/// Loads a service's configuration from its defaults, the shared file named by
/// `CSM_SHARED_CONFIG` (if any), the service's file (if any) and the environment.
pub fn load<T>(file: Option<&Path>) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned + Default,
{
    let shared = std::env::var_os("CSM_SHARED_CONFIG").filter(|path| !path.is_empty()).map(PathBuf::from);
    load_files(shared.as_deref(), file)
}

/// [`load`] with the shared file named rather than taken from `CSM_SHARED_CONFIG`. `T` is a
/// service's configuration: [`CommonSettings`] flattened, and sections of its own.
pub fn load_files<T>(shared: Option<&Path>, file: Option<&Path>) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned + Default,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    for path in [shared, file].into_iter().flatten() {
        figment = figment.merge(Toml::file_exact(path));
    }
    // Only section-qualified variables are configuration (`CSM_CONFIG`, `CSM_SHARED_CONFIG` and
    // other tools' `CSM_...` variables are not).
    figment = figment.merge(Env::prefixed("CSM_").filter(|key| key.as_str().contains("__")).split("__"));

    let known: Dict = Figment::from(Serialized::defaults(T::default())).extract().map_err(|e| describe(&figment, e))?;
    let given: Dict = figment.extract().map_err(|e| describe(&figment, e))?;
    let mut problems: Vec<String> = given
        .iter()
        .filter(|(key, _)| !known.contains_key(key.as_str()))
        .map(|(key, value)| unknown(&figment, key, value))
        .collect();
    // The common sections are read on their own first: flattened into the service's
    // configuration, their errors would lose the key they belong to.
    if let Err(error) = figment.extract::<CommonSettings>() {
        problems.extend(describe(&figment, error).problems);
    }
    if !problems.is_empty() {
        return Err(ConfigError { problems });
    }
    figment.extract().map_err(|error| describe(&figment, error))
}

/// "unknown section [servre] (in intake.toml)" or "unknown key server.request_timeuot (in ...)".
fn unknown(figment: &Figment, key: &str, value: &Value) -> String {
    let what = match value {
        Value::Dict(..) => format!("unknown section [{key}]"),
        _ => format!("unknown key {key}"),
    };
    format!("{what}{}", origin(key, figment.get_metadata(value.tag())))
}

/// Where a value came from: ` (in <file>)` or ` (in environment variable CSM_...)`.
fn origin(key: &str, metadata: Option<&Metadata>) -> String {
    let Some(metadata) = metadata else {
        return String::new();
    };
    match &metadata.source {
        Some(figment::Source::File(path)) => format!(" (in {})", path.display()),
        _ if metadata.name.contains("environment") => {
            format!(" (in environment variable CSM_{})", key.replace('.', "__").to_uppercase())
        }
        _ => String::new(),
    }
}

/// Each of figment's errors as a line naming the key, and for a value that cannot be read, the
/// value as given.
fn describe(figment: &Figment, error: figment::Error) -> ConfigError {
    let problems = error
        .into_iter()
        .map(|error| {
            let mut path = error.path.clone();
            let found = figment.find_value(&path.join(".")).ok();
            let metadata =
                error.metadata.as_ref().or_else(|| found.as_ref().and_then(|value| figment.get_metadata(value.tag())));
            match &error.kind {
                figment::error::Kind::UnknownField(field, expected) => {
                    if path.last() != Some(field) {
                        path.push(field.clone());
                    }
                    let key = path.join(".");
                    let value = figment.find_value(&key).ok();
                    let what = match value {
                        Some(Value::Dict(..)) => format!("unknown section [{key}]"),
                        _ => format!("unknown key {key}"),
                    };
                    let metadata = value.as_ref().and_then(|value| figment.get_metadata(value.tag())).or(metadata);
                    format!("{what}{} (expected one of: {})", origin(&key, metadata), expected.join(", "))
                }
                kind => {
                    let key = path.join(".");
                    let shown = found.as_ref().and_then(|v| serde_json::to_string(v).ok());
                    match (key.is_empty(), shown) {
                        (true, _) => format!("{kind}{}", origin(&key, metadata)),
                        (false, Some(value)) => {
                            format!("{key} = {value}{}: {kind}", origin(&key, metadata))
                        }
                        (false, None) => format!("{key}{}: {kind}", origin(&key, metadata)),
                    }
                }
            }
        })
        .collect();
    ConfigError { problems }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct Sample {
        #[serde(flatten)]
        common: CommonSettings,
        own: Own,
    }

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Own {
        #[serde(with = "humantime_serde")]
        interval: std::time::Duration,
    }

    fn load_text(text: &str) -> Result<Sample, ConfigError> {
        let dir = tempfile::tempdir().map_err(|e| ConfigError::new(e.to_string()))?;
        let file = dir.path().join("svc.toml");
        std::fs::write(&file, text).map_err(|e| ConfigError::new(e.to_string()))?;
        load_files(None, Some(&file))
    }

    #[test]
    fn unknown_keys_and_sections_are_refused_by_name_and_file() {
        let error = load_text("[server]\nrequest_timeuot = \"5s\"\n").unwrap_err().to_string();
        assert!(error.contains("unknown key server.request_timeuot (in "), "{error}");
        assert!(error.contains("svc.toml"), "{error}");
        assert!(error.contains("request_timeout"), "expected keys listed: {error}");

        let error = load_text("[servre]\nlisten = \"0.0.0.0:1\"\n").unwrap_err().to_string();
        assert!(error.starts_with("unknown section [servre] (in "), "{error}");

        let error = load_text("[own]\nintervall = \"1s\"\n").unwrap_err().to_string();
        assert!(error.contains("unknown key own.intervall"), "{error}");

        let error = load_text("[server.tlss]\ncert_file = \"x\"\n").unwrap_err().to_string();
        assert!(error.contains("unknown section [server.tlss]"), "{error}");

        let error = load_text("[[auth.tokens]]\ntoken = \"t\"\nsubjekt = \"x\"\n").unwrap_err().to_string();
        assert!(error.contains("subjekt"), "{error}");

        let error = load_text("stray = 1\n[servre]\n").unwrap_err();
        assert_eq!(error.problems.len(), 2, "{error}");
    }

    #[test]
    fn a_value_that_cannot_be_read_is_named_with_its_key_and_value() {
        let error = load_text("[server]\nrequest_timeout = \"10 sekunden\"\n").unwrap_err().to_string();
        assert!(error.contains("server.request_timeout = \"10 sekunden\""), "{error}");
        let error = load_text("[own]\ninterval = \"soon\"\n").unwrap_err().to_string();
        assert!(error.contains("own.interval = \"soon\""), "{error}");
        let error = load_text("[database]\nmax_connections = \"many\"\n").unwrap_err().to_string();
        assert!(error.contains("database.max_connections = \"many\""), "{error}");
    }

    #[test]
    fn known_keys_still_load() {
        let sample = load_text("[server]\nrequest_timeout = \"250ms\"\n[own]\ninterval = \"2m\"\n").unwrap();
        assert_eq!(sample.common.server.request_timeout, std::time::Duration::from_millis(250));
        assert_eq!(sample.own.interval, std::time::Duration::from_secs(120));
    }
}
