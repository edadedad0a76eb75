//! `csm feed tail SERVICE`: a service's feed as it grows (or from its start), each event's payload
//! decoded from `Any` by the contracts' descriptors: one readable line per event, or the whole event
//! as proto JSON per line for scripts.

use csm_proto::feed::v1::{Event, GetFeedStateRequest, SubscribeRequest};
use serde_json::Value;

use crate::{
    connect::{Connection, Service},
    output::{self, Out, Outcome},
    schema,
};

#[derive(Debug, clap::Subcommand)]
pub enum FeedCommand {
    /// Print a service's events as they are published.
    Tail {
        #[arg(value_enum)]
        service: Service,
        /// Replay the feed from its first event, then follow it.
        #[arg(long, conflicts_with = "after")]
        from_start: bool,
        /// Replay from after this sequence, then follow.
        #[arg(long, value_name = "SEQUENCE")]
        after: Option<u64>,
        /// Only these event types: short (WorkOrderOpened) or full (csm.intake.v1.WorkOrderOpened)
        /// names, comma-separated or repeated.
        #[arg(long, value_delimiter = ',')]
        types: Vec<String>,
        /// Stop after this many events.
        #[arg(long)]
        limit: Option<u64>,
        /// One JSON object per line: the event with its payload decoded.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
}

pub async fn run(command: FeedCommand, out: Out<'_>) -> anyhow::Result<Outcome> {
    let FeedCommand::Tail { service, from_start, after, types, limit, json, connection } = command;
    let event_types = types.iter().map(|t| event_type(service, t)).collect::<anyhow::Result<Vec<_>>>()?;
    let (mut client, endpoint) = connection.connect()?.feed(service)?;
    let after_sequence = match (from_start, after) {
        (true, _) => 0,
        (false, Some(after)) => after,
        (false, None) => {
            client
                .get_feed_state(GetFeedStateRequest {})
                .await
                .map_err(|s| endpoint.error("GetFeedState", &s))?
                .into_inner()
                .last_sequence
        }
    };
    let request = SubscribeRequest { after_sequence, event_types };
    let mut stream = client.subscribe(request).await.map_err(|s| endpoint.error("Subscribe", &s))?.into_inner();
    let mut printed = 0;
    while limit.is_none_or(|limit| printed < limit) {
        let Some(event) = stream.message().await.map_err(|s| endpoint.error("Subscribe", &s))? else {
            break;
        };
        let line = if json { serde_json::to_string(&event_json(&event)?)? } else { readable(&event) };
        writeln!(out, "{line}")?;
        out.flush()?;
        printed += 1;
    }
    Ok(Outcome::Done)
}

/// The full name of an event type given short or full, checked against the contracts.
fn event_type(service: Service, given: &str) -> anyhow::Result<String> {
    let pool = schema::pool()?;
    let package = format!("csm.{}.v1", service.name());
    let full = if given.contains('.') { given.to_string() } else { format!("{package}.{given}") };
    if pool.get_message_by_name(&full).is_some() {
        return Ok(full);
    }
    let mut known: Vec<String> = pool
        .all_messages()
        .filter(|m| m.package_name() == package && m.parent_file().name().ends_with("events.proto"))
        .map(|m| m.name().to_string())
        .collect();
    known.sort();
    anyhow::bail!("no event type {given:?} in {package}; its events include: {}", known.join(", "))
}

/// The event as JSON, its payload decoded (with its type in `@type`, as proto JSON writes `Any`).
fn event_json(event: &Event) -> anyhow::Result<Value> {
    let mut value = schema::to_json(&Event { payload: None, ..event.clone() })?;
    if let Some(payload) = &event.payload {
        let (type_name, mut decoded) = schema::any_to_json(payload)?;
        if let Value::Object(fields) = &mut decoded {
            fields.insert("@type".into(), Value::String(format!("type.googleapis.com/{type_name}")));
        }
        value["payload"] = decoded;
    }
    Ok(value)
}

/// `2026-11-03 09:30:15Z  #42 intake WorkOrderOpened workOrders/… kind=… channel=…`.
fn readable(event: &Event) -> String {
    let time = output::time(event.occurred_at.as_ref());
    let head = format!("{time}  #{} {}", event.sequence, event.source);
    let Some(payload) = &event.payload else {
        return format!("{head} (no payload) {}", event.subject);
    };
    match schema::any_to_json(payload) {
        Ok((type_name, decoded)) => {
            let short = type_name.rsplit('.').next().unwrap_or(&type_name);
            let mut fields = Vec::new();
            key_fields(&decoded, "", &mut fields);
            format!("{head} {short} {} {}", event.subject, fields.join(" ")).trim_end().to_string()
        }
        Err(_) => format!("{head} {} {} (a type these contracts do not know)", payload.type_url, event.subject),
    }
}

/// Fields a reader scans for: scalars at the top and one level down, phone numbers masked, long
/// texts clipped, at most eight. Times and references to other resources are left to `--json`.
fn key_fields(value: &Value, prefix: &str, fields: &mut Vec<String>) {
    let Value::Object(object) = value else { return };
    for (key, value) in object {
        if fields.len() >= 8 {
            return;
        }
        match value {
            Value::Object(_) if prefix.is_empty() => key_fields(value, key, fields),
            Value::String(text) if key == "phoneNumber" => {
                fields.push(format!("{key}={}", csm_kit::Masked(text)));
            }
            Value::String(text)
                if !text.is_empty()
                    && !is_reference(text)
                    && !key.ends_with("Time")
                    && !key.ends_with("At")
                    && key != "requestId" =>
            {
                fields.push(format!("{key}={}", output::clip(text, 32)));
            }
            Value::Number(n) => fields.push(format!("{key}={n}")),
            Value::Bool(b) => fields.push(format!("{key}={b}")),
            _ => {}
        }
    }
}

/// `workOrders/0190…`, `customers/…`: a resource name.
fn is_reference(text: &str) -> bool {
    text.split_once('/').is_some_and(|(collection, id)| {
        !collection.is_empty() && !id.is_empty() && collection.chars().all(|c| c.is_ascii_alphabetic())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_are_named_short_or_full_and_checked() {
        assert_eq!(event_type(Service::Intake, "WorkOrderOpened").unwrap(), "csm.intake.v1.WorkOrderOpened");
        assert_eq!(
            event_type(Service::Recovery, "csm.intake.v1.WorkOrderOpened").unwrap(),
            "csm.intake.v1.WorkOrderOpened"
        );
        let error = event_type(Service::Intake, "Nonsense").unwrap_err().to_string();
        assert!(error.contains("WorkOrderOpened"), "{error}");
    }
}
