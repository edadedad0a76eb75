//! The contracts as data: every message and enum of the csm packages, from the descriptor set the
//! proto crate embeds. Any message prints as the proto JSON grpcurl shows (a feed payload wrapped in
//! `Any` included), and any enum is read from the names people write in their files.

use std::sync::OnceLock;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};

static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();

/// Every descriptor of the contracts and their imports.
pub fn pool() -> anyhow::Result<&'static DescriptorPool> {
    POOL.get_or_init(|| DescriptorPool::decode(csm_proto::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("the contracts' descriptors: {e}"))
}

fn descriptor(full_name: &str) -> anyhow::Result<MessageDescriptor> {
    pool()?.get_message_by_name(full_name).ok_or_else(|| anyhow::anyhow!("no message {full_name} in the contracts"))
}

/// `message` as proto JSON: field names in lowerCamelCase, enums by name, times in RFC 3339, fields
/// left at their default omitted.
pub fn to_json<M: Message + prost::Name>(message: &M) -> anyhow::Result<serde_json::Value> {
    let dynamic = DynamicMessage::decode(descriptor(&M::full_name())?, message.encode_to_vec().as_slice())?;
    json_of(&dynamic)
}

/// The payload of an `Any` by its type's full name, as proto JSON.
pub fn any_to_json(any: &prost_types::Any) -> anyhow::Result<(String, serde_json::Value)> {
    let type_name = any.type_url.rsplit('/').next().unwrap_or_default().to_string();
    let dynamic = DynamicMessage::decode(descriptor(&type_name)?, any.value.as_slice())?;
    Ok((type_name, json_of(&dynamic)?))
}

fn json_of(message: &DynamicMessage) -> anyhow::Result<serde_json::Value> {
    let options = SerializeOptions::new().stringify_64_bit_integers(false);
    Ok(message.serialize_with_options(serde_json::value::Serializer, &options)?)
}

/// An enum of the contracts read from the names people use: the contract's own
/// (`CHANNEL_MOBILE_APP`), the same without its prefix in any case (`mobile_app`, `Mobile-App`),
/// or a common short or Chinese name (`app`, `手机营业厅`).
#[derive(Debug, Clone, Copy)]
pub struct EnumNames {
    /// Full name of the enum, for example "csm.intake.v1.Channel".
    pub full_name: &'static str,
    /// What a value names, for errors: "channel".
    pub what: &'static str,
    /// Short or local names, each with the value it stands for (without the prefix, lower case).
    pub aliases: &'static [(&'static str, &'static str)],
}

impl EnumNames {
    /// The value `input` names.
    pub fn parse(&self, input: &str) -> anyhow::Result<i32> {
        let values = self.values()?;
        let wanted = normalise(input);
        let wanted =
            self.aliases.iter().find(|(alias, _)| normalise(alias) == wanted).map_or(wanted, |(_, v)| (*v).into());
        let prefix = self.prefix()?;
        let wanted = wanted.strip_prefix(&prefix).map(str::to_string).unwrap_or(wanted);
        values.iter().find(|(name, _)| *name == wanted).map(|(_, number)| *number).ok_or_else(|| {
            anyhow::anyhow!("unknown {} {input:?}; accepted: {}", self.what, self.accepted().unwrap_or_default())
        })
    }

    /// The accepted names, each with its short and local aliases, for errors and documentation.
    pub fn accepted(&self) -> anyhow::Result<String> {
        let names: Vec<String> = self
            .values()?
            .into_iter()
            .map(|(name, _)| {
                let aliases: Vec<&str> =
                    self.aliases.iter().filter(|(_, value)| *value == name).map(|(alias, _)| *alias).collect();
                if aliases.is_empty() { name } else { format!("{name} ({})", aliases.join(", ")) }
            })
            .collect();
        Ok(names.join(", "))
    }

    /// The short name of a value: `mobile_app` for `CHANNEL_MOBILE_APP`.
    pub fn short(&self, number: i32) -> String {
        self.values()
            .ok()
            .and_then(|values| values.into_iter().find(|(_, n)| *n == number))
            .map_or_else(|| if number == 0 { String::new() } else { number.to_string() }, |(name, _)| name)
    }

    /// The values but the unspecified one, by their lower-case names without the prefix.
    fn values(&self) -> anyhow::Result<Vec<(String, i32)>> {
        let prefix = self.prefix()?;
        let descriptor =
            pool()?.get_enum_by_name(self.full_name).ok_or_else(|| anyhow::anyhow!("no enum {}", self.full_name))?;
        Ok(descriptor
            .values()
            .filter(|v| v.number() != 0)
            .map(|v| {
                let lower = v.name().to_ascii_lowercase();
                (lower.strip_prefix(&prefix).map(str::to_string).unwrap_or(lower), v.number())
            })
            .collect())
    }

    /// `channel_` for csm.intake.v1.Channel, `contact_type_` for ContactType.
    fn prefix(&self) -> anyhow::Result<String> {
        let descriptor =
            pool()?.get_enum_by_name(self.full_name).ok_or_else(|| anyhow::anyhow!("no enum {}", self.full_name))?;
        let unspecified = descriptor.get_value(0).map(|v| v.name().to_ascii_lowercase()).unwrap_or_default();
        Ok(unspecified.strip_suffix("unspecified").unwrap_or_default().to_string())
    }
}

fn normalise(input: &str) -> String {
    input.trim().to_lowercase().replace(['-', ' '], "_")
}

pub const CHANNEL: EnumNames = EnumNames {
    full_name: "csm.intake.v1.Channel",
    what: "channel",
    aliases: &[
        ("ivr", "hotline_ivr"),
        ("hotline", "hotline_agent"),
        ("10086", "hotline_agent"),
        ("agent", "hotline_agent"),
        ("短信", "sms"),
        ("微信", "wechat"),
        ("app", "mobile_app"),
        ("手机营业厅", "mobile_app"),
        ("online", "online_store"),
        ("web", "online_store"),
        ("网上营业厅", "online_store"),
        ("store", "physical_store"),
        ("营业厅", "physical_store"),
        ("club", "customer_club"),
        ("vip", "vip_account_manager"),
        ("enterprise", "enterprise_account_manager"),
        ("community", "community_manager"),
        ("social", "social_media"),
        ("survey", "survey_callback"),
        ("callback", "survey_callback"),
        ("regulator", "regulator_appeal"),
        ("consumer_association", "consumer_association_appeal"),
    ],
};

pub const CONTACT_TYPE: EnumNames = EnumNames {
    full_name: "csm.intake.v1.ContactType",
    what: "contact type",
    aliases: &[
        ("question", "inquiry"),
        ("咨询", "inquiry"),
        ("办理", "transaction"),
        ("投诉", "complaint"),
        ("fault", "fault_report"),
        ("障碍申告", "fault_report"),
        ("建议", "suggestion"),
        ("表扬", "praise"),
        ("survey", "survey_answer"),
    ],
};

pub const APPEAL_BODY: EnumNames = EnumNames {
    full_name: "csm.intake.v1.AppealBody",
    what: "appeal body",
    aliases: &[("consumers", "consumer_association")],
};

pub const DISPUTE_OUTCOME: EnumNames =
    EnumNames { full_name: "csm.intake.v1.DisputeOutcome", what: "dispute outcome", aliases: &[] };

pub const CASE_STATUS: EnumNames =
    EnumNames { full_name: "csm.recovery.v1.CaseStatus", what: "case status", aliases: &[("open", "dispatched")] };

pub const CALLBACK_OUTCOME: EnumNames = EnumNames {
    full_name: "csm.recovery.v1.CallbackOutcome",
    what: "callback outcome",
    aliases: &[("满意", "satisfied"), ("基本满意", "basically_satisfied"), ("不满意", "dissatisfied")],
};

pub const TRAINING_STATE: EnumNames =
    EnumNames { full_name: "csm.classification.v1.TrainingJobState", what: "training job state", aliases: &[] };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_read_in_every_form_people_write_them() {
        let app = csm_proto::intake::v1::Channel::MobileApp as i32;
        for input in ["app", "mobile_app", "CHANNEL_MOBILE_APP", "Mobile-App", "channel_mobile_app", "手机营业厅"]
        {
            assert_eq!(CHANNEL.parse(input).unwrap(), app, "{input}");
        }
        assert_eq!(CHANNEL.short(app), "mobile_app");
    }

    #[test]
    fn an_unknown_name_lists_the_accepted_ones() {
        let error = CHANNEL.parse("pigeon").unwrap_err().to_string();
        assert!(error.contains("unknown channel \"pigeon\""), "{error}");
        assert!(error.contains("mobile_app (app, 手机营业厅)"), "{error}");
        assert!(CHANNEL.parse("unspecified").is_err());
    }

    #[test]
    fn messages_print_as_proto_json() {
        let case = csm_proto::recovery::v1::Case {
            name: "cases/1".into(),
            status: csm_proto::recovery::v1::CaseStatus::Resolved as i32,
            ..Default::default()
        };
        let json = to_json(&case).unwrap();
        assert_eq!(json["status"], "CASE_STATUS_RESOLVED");
        assert_eq!(json["name"], "cases/1");
    }
}
