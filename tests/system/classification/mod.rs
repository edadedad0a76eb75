//! Classification: taxonomy versions, rules and learned text models with evaluation and
//! rollback, corrections, common and emerging problems, and the dissatisfaction-risk model end to
//! end.

mod corrections;
mod outcomes;
mod problems;
mod risk;
mod routing;
mod taxonomies;
mod text_models;
pub mod training_jobs;

use std::collections::HashMap;

use csm_proto::classification::v1::LabelledText;

/// Short complaints per routing leaf and complaint-view leaf, in Chinese and English, worded so
/// that no default rule matches: only a learned model can place them.
pub const TOPICS: [(&str, &str, [&str; 4]); 3] = [
    (
        "system.coverage",
        "complaint.coverage",
        [
            "地下车库一格都没有",
            "电梯里面完全没有服务",
            "no bars in the basement car park",
            "zero reception inside the lift",
        ],
    ),
    (
        "service.channel_access",
        "complaint.channel_convenience",
        ["营业厅排队两个小时", "门店总是人满为患", "queued two hours at the store", "the shop is always packed"],
    ),
    (
        "business.roaming_rules",
        "complaint.roaming",
        ["出国以后手机不能用", "在香港打不了电话", "phone useless once abroad", "cannot call home from Hong Kong"],
    ),
];

/// `rounds` labelled examples of every topic phrase, with a little variation.
pub fn labelled(rounds: usize) -> Vec<LabelledText> {
    let endings = ["", "，怎么回事", " again", "！", " please fix", "，麻烦处理"];
    let mut examples = Vec::new();
    for round in 0..rounds {
        for (cause, complaint, phrases) in TOPICS {
            for phrase in phrases {
                examples.push(LabelledText {
                    text: format!("{phrase}{}", endings[round % endings.len()]),
                    leaves: HashMap::from([("cause".into(), cause.into()), ("complaint".into(), complaint.into())]),
                });
            }
        }
    }
    examples
}
