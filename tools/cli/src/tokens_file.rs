//! `csm tokens create`: a bearer token for a deployment's tokens file (the `[[tokens]]` array the
//! services read from `auth.tokens_file`). The file is checked as the services check it before it
//! is written, so a file this command wrote is one they start with.

use std::path::PathBuf;

use csm_kit::{
    Role,
    auth::{AuthSettings, Authenticator, TokenSettings},
};
use sha2::{Digest, Sha256};

use crate::{
    output::{self, Out, Outcome},
    tokens::{DevTokens, random_token},
};

#[derive(Debug, clap::Subcommand)]
pub enum TokensCommand {
    /// Create a token for a subject with its roles, added to a tokens file (or printed).
    Create {
        /// Who the caller is, as audit trails record it (for example "billing-desk").
        #[arg(long)]
        subject: String,
        /// A role: channel_system, agent, department, supervisor, analyst, administrator or
        /// service; repeat for several.
        #[arg(long = "role", required = true, value_parser = role)]
        roles: Vec<Role>,
        /// The department of a caller with the department role.
        #[arg(long)]
        department: Option<String>,
        /// The tokens file to add it to (created when missing); without it the entry is printed.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Keep only the token's SHA-256 in the file; the token itself is printed once, here.
        #[arg(long)]
        hashed: bool,
        /// Replace the subject's token if the file has one.
        #[arg(long)]
        replace: bool,
        #[arg(long)]
        json: bool,
    },
}

/// A role by its name in the tokens file, or a short form (`admin`, `channel`).
fn role(text: &str) -> Result<Role, String> {
    let name = text.trim().to_lowercase().replace(['-', ' '], "_");
    let name = match name.as_str() {
        "admin" => "administrator",
        "channel" => "channel_system",
        other => other,
    };
    serde_json::from_value(serde_json::Value::String(name.to_string())).map_err(|_| {
        format!(
            "unknown role {text:?}; accepted: channel_system (channel), agent, department, supervisor, analyst, \
             administrator (admin), service"
        )
    })
}

pub fn run(command: TokensCommand, out: Out<'_>) -> anyhow::Result<Outcome> {
    let TokensCommand::Create { subject, roles, department, file, hashed, replace, json } = command;
    if subject.trim().is_empty() {
        anyhow::bail!("--subject must not be empty");
    }
    let token = random_token();
    let entry = TokenSettings {
        token: (!hashed).then(|| token.clone()),
        token_sha256: hashed.then(|| Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()),
        subject: subject.clone(),
        roles: roles.clone(),
        department: department.clone(),
    };
    let mut tokens = match &file {
        Some(path) if path.exists() => {
            DevTokens::load(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?
        }
        _ => DevTokens { tokens: Vec::new() },
    };
    if let Some(existing) = tokens.tokens.iter().position(|t| t.subject == subject) {
        if !replace {
            anyhow::bail!("the file already has a token for {subject:?}: give --replace to replace it");
        }
        tokens.tokens.remove(existing);
    }
    tokens.tokens.push(entry.clone());
    // What the services would say of the file, said now.
    Authenticator::from_settings(&AuthSettings { tokens: tokens.tokens.clone(), ..AuthSettings::default() })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let text = toml::to_string_pretty(&tokens)?;
    if let Some(path) = &file {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let header = "# Bearer tokens: give this file to the services as auth.tokens_file. Keep private.\n";
        std::fs::write(path, format!("{header}{text}"))
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    }
    let roles: Vec<String> = roles.iter().map(ToString::to_string).collect();
    if json {
        let value = serde_json::json!({
            "subject": subject, "roles": roles, "department": department, "token": token, "file": file,
        });
        output::json(out, &value)?;
        return Ok(Outcome::Done);
    }
    match &file {
        Some(path) => writeln!(out, "added {subject} ({}) to {}", roles.join(", "), path.display())?,
        None => write!(out, "{}", toml::to_string_pretty(&DevTokens { tokens: vec![entry] })?)?,
    }
    writeln!(out, "token: {token}")?;
    if hashed {
        writeln!(out, "only its SHA-256 is kept in the file: hand the token over now, it is not shown again")?;
    }
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::role;
    use csm_kit::Role;

    #[test]
    fn roles_are_read_by_their_file_names_and_short_forms() {
        assert_eq!(role("administrator").unwrap(), Role::Administrator);
        assert_eq!(role("Admin").unwrap(), Role::Administrator);
        assert_eq!(role("channel-system").unwrap(), Role::ChannelSystem);
        assert!(role("king").unwrap_err().contains("supervisor"));
    }
}
