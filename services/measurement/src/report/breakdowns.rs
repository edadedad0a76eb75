//! The report's breakdowns: a few headline indicators of the month split by region, channel and
//! responsible department, so a manager sees where a figure comes from.

use csm_kit::{config::OrganisationSettings, names};
use csm_proto::measurement::v1::{Breakdown, BreakdownValue};
use sea_orm::ConnectionTrait;

use crate::{
    calendar::{Calendar, Grain},
    catalogue::Catalogue,
    error::Error,
    observe::Dimension,
    series::{self, Window},
};

/// The indicators split, when the catalogue has them: how many complaints, and how well they
/// were handled and called back.
const INDICATORS: [&str; 3] = ["complaints_opened", "on_time_resolution_rate", "callback_satisfaction_rate"];

const DIMENSIONS: [(&str, Dimension); 3] =
    [("region", Dimension::Region), ("channel", Dimension::Channel), ("department", Dimension::Department)];

/// Channels as measurement counts them, with their names.
const CHANNELS: &[(&str, &str, &str)] = &[
    ("hotline_ivr", "热线自助语音", "Hotline voice menu"),
    ("hotline_agent", "热线人工", "Hotline agent"),
    ("sms", "短信", "SMS"),
    ("wechat", "微信", "WeChat"),
    ("mobile_app", "手机营业厅", "Mobile app"),
    ("online_store", "网上营业厅", "Online store"),
    ("physical_store", "实体营业厅", "Physical store"),
    ("customer_club", "客户俱乐部", "Customer club"),
    ("vip_account_manager", "VIP 客户经理", "VIP account manager"),
    ("enterprise_account_manager", "集团客户经理", "Enterprise account manager"),
    ("community_manager", "社区经理", "Community manager"),
    ("social_media", "社交媒体", "Social media"),
    ("survey_callback", "调查回访", "Survey callback"),
    ("regulator_appeal", "工信部申诉", "Regulator appeal"),
    ("consumer_association_appeal", "消协申诉", "Consumer association appeal"),
    ("unknown", "未知", "Unknown"),
    ("unclassified", "未分类", "Unclassified"),
];

/// The names of a dimension value: channels and departments by their tables, others as counted.
pub fn value_names(dimension: &str, key: &str, organisation: &OrganisationSettings) -> (String, String) {
    let named = match dimension {
        "channel" => CHANNELS.iter().find(|(k, _, _)| *k == key).map(|(_, zh, en)| (zh.to_string(), en.to_string())),
        "department" => organisation.names.get(key).map(|n| (n.zh.clone(), n.en.clone())),
        _ => None,
    };
    named.unwrap_or_else(|| (key.to_string(), key.to_string()))
}

pub async fn build(
    db: &impl ConnectionTrait,
    calendar: &Calendar,
    catalogue: &Catalogue,
    organisation: &OrganisationSettings,
    (start, end): (i64, i64),
) -> Result<Vec<Breakdown>, Error> {
    let mut breakdowns = Vec::new();
    for (dimension_name, dimension) in DIMENSIONS {
        for key in INDICATORS {
            let Some(entry) = catalogue.get(key) else { continue };
            let window = Window { grain: Grain::Month, dimension, only: None, start, end };
            let mut values: Vec<BreakdownValue> = series::compute(db, calendar, entry, &window)
                .await?
                .into_iter()
                .filter(|v| v.period == start && v.value.is_finite())
                .map(|v| {
                    let (name_zh, name_en) = value_names(dimension_name, &v.dimension_value, organisation);
                    BreakdownValue { key: v.dimension_value, name_zh, name_en, value: Some(v.value) }
                })
                .collect();
            values.sort_by(|a, b| {
                b.value
                    .unwrap_or(f64::NEG_INFINITY)
                    .total_cmp(&a.value.unwrap_or(f64::NEG_INFINITY))
                    .then(a.key.cmp(&b.key))
            });
            breakdowns.push(Breakdown {
                dimension: dimension_name.to_string(),
                indicator: names::name_of(names::INDICATORS, key),
                values,
            });
        }
    }
    Ok(breakdowns)
}
