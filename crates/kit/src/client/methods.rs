//! Which calls may be sent again, read once from the contracts: a call whose request names a
//! `request_id` is idempotent when the caller filled it in (the service answers a repeat with the
//! first outcome), and reads are idempotent by nature. Calls whose requests stream are never
//! buffered, so they are never sent twice.

use std::{collections::HashMap, sync::OnceLock};

use prost::Message;
use prost_types::FileDescriptorSet;

/// What the contracts say about one method, by its path `/package.Service/Method`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MethodTraits {
    /// The caller sends a stream of messages (the request cannot be replayed).
    pub streaming_request: bool,
    /// Reading only: sending it twice changes nothing.
    pub read: bool,
    /// The field number of the request's `request_id`, if it has one.
    pub request_id_field: Option<u32>,
}

/// Method names that only read. Everything else changes state, and is sent again only when the
/// server never saw it or when its request carries a request id.
const READ_PREFIXES: [&str; 12] = [
    "Get",
    "List",
    "Query",
    "Classify",
    "Score",
    "Analyze",
    "Render",
    "Subscribe",
    "Check",
    "Watch",
    "Wait",
    "Evaluate",
];

/// Evaluations that store what they computed, and so are not plain reads.
const STORING_EVALUATIONS: [&str; 1] = ["EvaluateProgramme"];

/// The traits of the method at `path`; unknown paths get the most careful ones (no repeat).
pub fn traits(path: &str) -> MethodTraits {
    table().get(path).copied().unwrap_or_default()
}

/// The path of every method of the contracts and of the health service.
pub fn paths() -> impl Iterator<Item = &'static str> {
    table().keys().map(String::as_str)
}

fn table() -> &'static HashMap<String, MethodTraits> {
    static TABLE: OnceLock<HashMap<String, MethodTraits>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = HashMap::new();
        for encoded in [csm_proto::FILE_DESCRIPTOR_SET, tonic_health::pb::FILE_DESCRIPTOR_SET] {
            if let Ok(set) = FileDescriptorSet::decode(encoded) {
                add_methods(&set, &mut table);
            }
        }
        table
    })
}

fn add_methods(set: &FileDescriptorSet, table: &mut HashMap<String, MethodTraits>) {
    let mut request_ids: HashMap<String, u32> = HashMap::new();
    for file in &set.file {
        for message in &file.message_type {
            if let Some(field) = message.field.iter().find(|f| f.name() == "request_id") {
                request_ids.insert(format!(".{}.{}", file.package(), message.name()), field.number() as u32);
            }
        }
    }
    for file in &set.file {
        for service in &file.service {
            for method in &service.method {
                let name = method.name();
                let read = READ_PREFIXES.iter().any(|p| name.starts_with(p)) && !STORING_EVALUATIONS.contains(&name);
                table.insert(
                    format!("/{}.{}/{}", file.package(), service.name(), name),
                    MethodTraits {
                        streaming_request: method.client_streaming(),
                        read,
                        request_id_field: request_ids.get(method.input_type()).copied(),
                    },
                );
            }
        }
    }
}

/// Whether the gRPC-framed request `body` (one uncompressed message) sets string field `field`
/// to something non-empty: a protobuf scan of the top-level fields, stopping at anything odd.
pub fn sets_field(body: &[u8], field: u32) -> bool {
    // The gRPC frame: a compression flag, a four-byte length, then the message.
    let Some((&[0], rest)) = body.split_first_chunk::<1>() else { return false };
    let Some((_length, mut message)) = rest.split_first_chunk::<4>() else { return false };
    while !message.is_empty() {
        let Some((key, after)) = varint(message) else { return false };
        let (number, wire_type) = ((key >> 3) as u32, key & 7);
        message = match wire_type {
            0 => match varint(after) {
                Some((_, after)) => after,
                None => return false,
            },
            1 => after.get(8..).unwrap_or_default(),
            2 => {
                let Some((length, after)) = varint(after) else { return false };
                let Some(value) = usize::try_from(length).ok().and_then(|n| after.get(..n)) else { return false };
                if number == field {
                    return !value.is_empty();
                }
                &after[value.len()..]
            }
            5 => after.get(4..).unwrap_or_default(),
            _ => return false,
        };
    }
    false
}

fn varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(message: &impl Message) -> Vec<u8> {
        let encoded = message.encode_to_vec();
        let mut body = vec![0];
        body.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
        body.extend(encoded);
        body
    }

    #[test]
    fn reads_and_request_ids_come_from_the_contracts() {
        let submit = traits("/csm.intake.v1.IntakeService/SubmitContact");
        assert!(!submit.read && !submit.streaming_request);
        assert!(submit.request_id_field.is_some());
        assert!(traits("/csm.intake.v1.IntakeService/GetWorkOrder").read);
        assert!(traits("/csm.feed.v1.Feed/Subscribe").read);
        assert!(traits("/grpc.health.v1.Health/Check").read);
        assert!(traits("/csm.intake.v1.IntakeService/Ingest").streaming_request);
        assert!(!traits("/csm.recovery.v1.RecoveryService/TransitionCase").read);
        assert!(!traits("/csm.measurement.v1.MeasurementService/EvaluateProgramme").read);
        assert_eq!(traits("/no.Such/Method"), MethodTraits::default());
    }

    #[test]
    fn a_request_id_counts_only_when_filled_in() {
        let field = traits("/csm.intake.v1.IntakeService/SubmitContact").request_id_field.unwrap();
        let mut request = csm_proto::intake::v1::SubmitContactRequest {
            text: "宽带断网".into(),
            phone_number: "13800000000".into(),
            ..Default::default()
        };
        assert!(!sets_field(&framed(&request), field));
        request.request_id = "r-1".into();
        assert!(sets_field(&framed(&request), field));
        // A compressed or truncated frame is never taken for a repeatable one.
        let mut compressed = framed(&request);
        compressed[0] = 1;
        assert!(!sets_field(&compressed, field));
        assert!(!sets_field(&framed(&request)[..8], field));
    }
}
