//! How a dissatisfied customer is reached (DOMAIN.md section 4): about a fifth of the dissatisfied
//! are phoned and the rest sent an SMS; VIP, high-frequency and appeal-risk customers are always
//! phoned. The fifth is drawn from the answer's id, so a replayed answer is reached the same way
//! and the share holds over any run of answers.

use csm_proto::recovery::v1::ContactMethod;

use crate::config::DetractorSettings;

/// What the policy weighs about the customer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Customer {
    pub vip_level: i32,
    pub high_frequency: bool,
    pub appeal_risk: bool,
}

/// The contact method for the answer `answer_id`, and why it was chosen.
pub fn contact_method(
    settings: &DetractorSettings,
    answer_id: &str,
    customer: Customer,
) -> (ContactMethod, &'static str) {
    if settings.always_phone_vip_level > 0 && customer.vip_level >= settings.always_phone_vip_level {
        (ContactMethod::Phone, "vip")
    } else if customer.high_frequency {
        (ContactMethod::Phone, "high_frequency")
    } else if customer.appeal_risk {
        (ContactMethod::Phone, "appeal_risk")
    } else if draw(answer_id) < settings.phone_share {
        (ContactMethod::Phone, "sampled")
    } else {
        (ContactMethod::Sms, "default")
    }
}

/// A number in [0, 1) fixed by `id`: FNV-1a, then MurmurHash3's finaliser so that ids differing
/// only in their last characters spread over the whole range; stable across builds and platforms.
fn draw(id: &str) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^= hash >> 33;
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DetractorSettings {
        DetractorSettings::default()
    }

    #[test]
    fn vip_high_frequency_and_appeal_risk_customers_are_always_phoned() {
        let ids: Vec<String> = (0..200).map(|i| format!("answer-{i}")).collect();
        for (customer, why) in [
            (Customer { vip_level: 1, ..Customer::default() }, "vip"),
            (Customer { high_frequency: true, ..Customer::default() }, "high_frequency"),
            (Customer { appeal_risk: true, ..Customer::default() }, "appeal_risk"),
        ] {
            for id in &ids {
                assert_eq!(contact_method(&settings(), id, customer), (ContactMethod::Phone, why));
            }
        }
    }

    #[test]
    fn about_a_fifth_of_the_others_are_phoned_and_the_same_answer_always_the_same_way() {
        let phoned = (0..10_000)
            .filter(|i| {
                contact_method(&settings(), &format!("019a{i:08x}"), Customer::default()).0 == ContactMethod::Phone
            })
            .count();
        assert!((1_850..=2_150).contains(&phoned), "{phoned} of 10,000 phoned");
        let once = contact_method(&settings(), "019abc", Customer::default());
        assert_eq!(contact_method(&settings(), "019abc", Customer::default()), once);
    }

    #[test]
    fn the_shares_at_their_ends_phone_nobody_or_everybody() {
        let none = DetractorSettings { phone_share: 0.0, ..settings() };
        let all = DetractorSettings { phone_share: 1.0, ..settings() };
        for i in 0..1_000 {
            let id = format!("a{i}");
            assert_eq!(contact_method(&none, &id, Customer::default()).0, ContactMethod::Sms);
            assert_eq!(contact_method(&all, &id, Customer::default()).0, ContactMethod::Phone);
        }
        let vip_rule_off = DetractorSettings { always_phone_vip_level: 0, phone_share: 0.0, ..settings() };
        let vip = Customer { vip_level: 9, ..Customer::default() };
        assert_eq!(contact_method(&vip_rule_off, "x", vip).0, ContactMethod::Sms);
    }
}
