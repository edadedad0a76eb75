//! The published satisfaction-index models, as trees: the provincial model's four service areas
//! and the perceived-value and corporate-image composite.

use super::{Node, group, leaf};

/// Leaves of one first-level area: key suffix, name, weight within the area.
type Leaves = &'static [(&'static str, &'static str, f64)];

const NETWORK: Leaves = &[
    ("call_quality", "通话质量 / Call quality", 30.0),
    ("coverage", "网络覆盖 / Coverage", 30.0),
    ("border_roaming", "边界漫游质量 / Border-roaming quality", 20.0),
    ("roaming", "漫游质量 / Roaming quality", 20.0),
];
const HOTLINE: Leaves = &[
    ("reachability", "接通容易程度 / Ease of getting through", 30.0),
    ("agent_attitude", "坐席服务态度 / Agent attitude", 20.0),
    ("ivr_convenience", "语音导航便捷性 / IVR convenience", 20.0),
    ("agent_resolution", "坐席问题解决能力 / Agent problem-solving", 30.0),
];
const STORE: Leaves = &[
    ("convenience", "营业厅便利性 / Store convenience", 20.0),
    ("staff_appearance", "员工仪容仪表 / Staff appearance", 10.0),
    ("staff_attitude", "员工服务态度 / Staff attitude", 20.0),
    ("staff_initiative", "员工主动性 / Staff initiative", 10.0),
    ("staff_resolution", "员工问题解决能力 / Staff problem-solving", 20.0),
    ("paperwork_ease", "业务办理便捷性 / Paperwork ease", 20.0),
];
const NEW_SERVICES: Leaves = &[
    ("timely_notice", "及时告知 / Timely notice", 20.0),
    ("fee_reasonableness", "资费合理性 / Fee reasonableness", 30.0),
    ("usefulness", "实用性 / Usefulness", 30.0),
    ("ease_of_operation", "操作便捷性 / Ease of operation", 20.0),
];

/// The example model above as a tree (root key "overall"; first-level keys "network", "hotline", "store", "new_services"; leaf keys like "network.call_quality", each leaf's source Question(<same key>)), weights exactly as in the table.
///
/// The first-level weights (20/10/10/10) are kept as published; the remaining areas of the
/// provincial model (billing, image ...) are absent, so the four areas weigh 0.4/0.2/0.2/0.2.
pub fn provincial_example() -> Node {
    let areas = [
        ("network", "网络服务 / Network service", 20.0, NETWORK),
        ("hotline", "客服热线服务 / Hotline service", 10.0, HOTLINE),
        ("store", "营业厅服务 / Store service", 10.0, STORE),
        ("new_services", "新业务 / New services", 10.0, NEW_SERVICES),
    ];
    let children = areas.iter().map(|&(key, name, weight, leaves)| {
        let leaves = leaves.iter().map(|&(suffix, name, weight)| leaf(&format!("{key}.{suffix}"), name, weight));
        group(key, name, weight, leaves.collect())
    });
    group("overall", "满意度指数 / Satisfaction index", 1.0, children.collect())
}

/// overall = perceived service value x 0.7 + corporate image x 0.3 (keys "overall", "perceived_value", "image"; leaves Question("perceived_value"), Question("image")).
pub fn value_image_composite() -> Node {
    let value = leaf("perceived_value", "感知服务价值 / Perceived service value", 0.7);
    let image = leaf("image", "企业形象 / Corporate image", 0.3);
    group("overall", "总体满意度 / Overall satisfaction", 1.0, vec![value, image])
}
