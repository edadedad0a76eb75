//! `csm taxonomy validate|publish|show|list`: the taxonomy an administrator writes in the TOML form
//! classification ships (`services/classification/taxonomy/default.toml`), checked by
//! classification's own parser and validation before anything is sent, then published through
//! `PublishTaxonomy` (a dry run asks the service to check it without storing it).

use std::path::PathBuf;

use csm_classification::taxonomy::{self as document, Taxonomy as Validated};
use csm_proto::classification::v1::{
    GetTaxonomyRequest, ListTaxonomiesRequest, PublishTaxonomyRequest, Taxonomy, TaxonomyNode,
};

use crate::{
    connect::Connection,
    output::{self, Out, Outcome},
};

#[derive(Debug, clap::Subcommand)]
pub enum TaxonomyCommand {
    /// Check a taxonomy file as classification would, without calling any service.
    Validate {
        /// The taxonomy in TOML, as services/classification/taxonomy/default.toml.
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Publish a taxonomy file as the next version, which then classifies new work orders.
    Publish {
        file: PathBuf,
        /// Have classification check it (and name the version it would get) without storing it.
        #[arg(long)]
        dry_run: bool,
        /// Store the version without putting it in force (train models for it, then activate).
        #[arg(long, conflicts_with = "dry_run")]
        stage: bool,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Show a taxonomy version: its views as trees, departments and time limits.
    Show {
        /// "taxonomies/{key}/versions/{n}"; the version in force when omitted.
        name: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// List the published versions, newest first.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
}

pub async fn run(command: TaxonomyCommand, out: Out<'_>) -> anyhow::Result<Outcome> {
    match command {
        TaxonomyCommand::Validate { file, json } => {
            let validated = load(&file)?;
            if json {
                output::json(out, &crate::schema::to_json(&validated.to_proto())?)?;
            } else {
                writeln!(out, "{}: valid", file.display())?;
                summary(out, &validated)?;
            }
        }
        TaxonomyCommand::Publish { file, dry_run, stage, json, connection } => {
            let validated = load(&file)?;
            let (mut client, endpoint) = connection.connect()?.classification()?;
            let request =
                PublishTaxonomyRequest { taxonomy: Some(validated.to_proto()), validate_only: dry_run, stage };
            let published =
                client.publish_taxonomy(request).await.map_err(|s| endpoint.error("PublishTaxonomy", &s))?.into_inner();
            if json {
                output::json(out, &crate::schema::to_json(&published)?)?;
            } else if dry_run {
                writeln!(out, "dry run: classification accepts it as {}; nothing was stored", published.name)?;
                summary(out, &validated)?;
            } else if stage {
                writeln!(out, "staged {}: not in force until activated", published.name)?;
            } else {
                writeln!(out, "published {}: it classifies new work orders from now on", published.name)?;
            }
        }
        TaxonomyCommand::Show { name, json, connection } => {
            let (mut client, endpoint) = connection.connect()?.classification()?;
            let request = GetTaxonomyRequest { name: name.unwrap_or_default() };
            let taxonomy =
                client.get_taxonomy(request).await.map_err(|s| endpoint.error("GetTaxonomy", &s))?.into_inner();
            if json {
                output::json(out, &crate::schema::to_json(&taxonomy)?)?;
            } else {
                show(out, &taxonomy)?;
            }
        }
        TaxonomyCommand::List { json, connection } => {
            let (mut client, endpoint) = connection.connect()?.classification()?;
            let listed = client
                .list_taxonomies(ListTaxonomiesRequest {})
                .await
                .map_err(|s| endpoint.error("ListTaxonomies", &s))?
                .into_inner();
            if json {
                output::json(out, &crate::schema::to_json(&listed)?)?;
            } else {
                let mut table = output::table(["version", "name", "published", "in force"]);
                for t in &listed.taxonomies {
                    let active = if t.active { "yes" } else { "" };
                    table.add_row([t.name.as_str(), &t.display_name, &output::time(t.publish_time.as_ref()), active]);
                }
                writeln!(out, "{table}")?;
            }
        }
    }
    Ok(Outcome::Done)
}

/// The taxonomy in `file`, parsed and validated as classification does; every problem is named.
pub fn load(file: &std::path::Path) -> anyhow::Result<Validated> {
    let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
    let problems = |violations: csm_kit::error::Violations| {
        let lines: Vec<String> = violations.iter().map(|v| format!("  {}: {}", v.field, v.description)).collect();
        anyhow::anyhow!("{} is not a valid taxonomy:\n{}", file.display(), lines.join("\n"))
    };
    let parsed = document::parse(&text).map_err(problems)?;
    // The version is assigned when published; 1 stands in for it here.
    Validated::new(parsed, 1, csm_kit::time::now_micros()).map_err(problems)
}

fn summary(out: Out<'_>, taxonomy: &Validated) -> anyhow::Result<()> {
    let doc = &taxonomy.document;
    writeln!(out, "  taxonomy   {} ({})", doc.key, doc.display_name)?;
    for view in &doc.views {
        let routing = if view.routing { ", routes work orders" } else { "" };
        let leaves = taxonomy.leaves_of(&view.key).len();
        writeln!(out, "  view       {} {} / {}: {leaves} leaves{routing}", view.key, view.name_zh, view.name_en)?;
    }
    let mut departments: Vec<&str> =
        taxonomy.leaves_of(taxonomy.routing_view()).iter().map(|leaf| leaf.department.as_str()).collect();
    departments.sort_unstable();
    departments.dedup();
    writeln!(out, "  rules      {}", doc.rules.len())?;
    writeln!(out, "  fallback   {}", doc.fallback_leaf)?;
    writeln!(out, "  departments {}", departments.join(", "))?;
    Ok(())
}

fn show(out: Out<'_>, taxonomy: &Taxonomy) -> anyhow::Result<()> {
    let state = if taxonomy.active { "in force" } else { "not in force" };
    writeln!(
        out,
        "{} ({}), {state}, published {}",
        taxonomy.name,
        taxonomy.display_name,
        output::time(taxonomy.publish_time.as_ref())
    )?;
    for view in &taxonomy.views {
        let routing = if view.routing { " (routes work orders)" } else { "" };
        writeln!(out, "\nview {}: {} / {}{routing}", view.key, view.name_zh, view.name_en)?;
        let mut table = output::table(["key", "中文", "English", "department", "time limit"]);
        let mut stack: Vec<(&TaxonomyNode, usize)> = view.nodes.iter().rev().map(|n| (n, 0)).collect();
        while let Some((node, depth)) = stack.pop() {
            let limit =
                node.time_limit.as_ref().and_then(csm_kit::time::duration_from_proto).map_or_else(String::new, hours);
            table.add_row([
                format!("{}{}", "  ".repeat(depth), node.key),
                node.name_zh.clone(),
                node.name_en.clone(),
                node.responsible_department.clone(),
                limit,
            ]);
            stack.extend(node.children.iter().rev().map(|child| (child, depth + 1)));
        }
        writeln!(out, "{table}")?;
    }
    writeln!(out, "\n{} rules; unplaced work orders go to {}", taxonomy.rules.len(), taxonomy.fallback_leaf)?;
    Ok(())
}

/// A time limit as it is written in the taxonomy file: `48h`, `90m`.
fn hours(limit: std::time::Duration) -> String {
    let seconds = limit.as_secs();
    if seconds.is_multiple_of(3600) { format!("{}h", seconds / 3600) } else { format!("{}m", seconds / 60) }
}
