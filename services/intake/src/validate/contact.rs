//! Contacts: channel, customer, type, text, time, and what links a complaint to earlier ones.

use chrono::{DateTime, Utc};
use csm_kit::{error::Violations, names};
use csm_proto::intake::v1::{AppealBody, Channel, ContactType, CustomerProfile, SubmitContactRequest};

use super::{Rules, code, fingerprint};

const MAX_PROFILE_KEY: usize = 32;
const MAX_PRODUCTS: usize = 16;

/// A customer profile that passed validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub segment: Option<String>,
    pub vip_level: Option<i32>,
    pub region: Option<String>,
    pub products: Vec<String>,
}

impl Profile {
    /// The products as stored: comma-separated.
    pub fn products_column(&self) -> Option<String> {
        (!self.products.is_empty()).then(|| self.products.join(","))
    }
}

/// A contact that passed validation, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    pub request_id: Option<String>,
    /// SHA-256 of the request without its request_id: a retry must carry the same request.
    pub fingerprint: String,
    pub channel: Channel,
    pub phone_number: String,
    pub contact_type: ContactType,
    pub text: String,
    pub occurred_at: DateTime<Utc>,
    pub problem_code: Option<String>,
    pub profile: Profile,
    pub appeal: AppealBody,
    /// The id of the earlier work order the caller says this is about.
    pub related_work_order_id: Option<String>,
}

impl NewContact {
    /// Complaints and fault reports open a work order; other contacts are recorded only.
    pub fn opens_work_order(&self) -> bool {
        opens_work_order(self.contact_type)
    }
}

fn opens_work_order(contact_type: ContactType) -> bool {
    matches!(contact_type, ContactType::Complaint | ContactType::FaultReport)
}

/// The appeal body an appeal channel implies.
fn appeal_of_channel(channel: Channel) -> Option<AppealBody> {
    match channel {
        Channel::RegulatorAppeal => Some(AppealBody::Regulator),
        Channel::ConsumerAssociationAppeal => Some(AppealBody::ConsumerAssociation),
        _ => None,
    }
}

impl Rules {
    pub fn contact(&self, request: &SubmitContactRequest, now: DateTime<Utc>) -> Result<NewContact, Violations> {
        let mut violations = Violations::new();
        let request_id = names::request_id(&mut violations, "request_id", &request.request_id).map(str::to_string);

        let channel = Channel::try_from(request.channel).unwrap_or(Channel::Unspecified);
        if channel == Channel::Unspecified {
            violations.add("channel", format!("unknown channel {}; use one of the Channel values", request.channel));
        }
        let contact_type = ContactType::try_from(request.contact_type).unwrap_or(ContactType::Unspecified);
        if contact_type == ContactType::Unspecified {
            violations.add(
                "contact_type",
                format!("unknown contact type {}; use one of the ContactType values", request.contact_type),
            );
        }
        let phone_number = self.phone("phone_number", &request.phone_number, &mut violations);

        let text = super::free_text("text", &request.text, self.max_text_chars, &mut violations);
        if opens_work_order(contact_type) && text.is_empty() {
            violations.add("text", "must not be empty for a complaint or fault report");
        }
        let occurred_at = self.occurred_at("occurred_at", request.occurred_at.as_ref(), now, &mut violations);
        let problem_code = code("problem_code", &request.problem_code, false, &mut violations);
        let profile = profile(request.customer_profile.as_ref(), &mut violations);
        let appeal = appeal(request, channel, contact_type, &mut violations);

        let related = request.related_work_order.trim();
        let related_work_order_id = if related.is_empty() {
            None
        } else if !opens_work_order(contact_type) {
            violations.add("related_work_order", "only a complaint or fault report can repeat an earlier order");
            None
        } else {
            match names::id_in("related_work_order", related, names::WORK_ORDERS) {
                Ok(id) => Some(id.to_string()),
                Err(v) => {
                    violations.merge(v);
                    None
                }
            }
        };

        violations.into_result()?;
        let Some(occurred_at) = occurred_at else {
            return Err(Violations::one("occurred_at", "required"));
        };
        Ok(NewContact {
            request_id,
            fingerprint: fingerprint(request, |r| r.request_id.clear()),
            channel,
            phone_number,
            contact_type,
            text,
            occurred_at,
            problem_code,
            profile,
            appeal,
            related_work_order_id,
        })
    }
}

fn appeal(
    request: &SubmitContactRequest,
    channel: Channel,
    contact_type: ContactType,
    violations: &mut Violations,
) -> AppealBody {
    let given = match AppealBody::try_from(request.appeal) {
        Ok(body) => body,
        Err(_) => {
            violations.add("appeal", format!("unknown appeal body {}", request.appeal));
            AppealBody::Unspecified
        }
    };
    let implied = appeal_of_channel(channel);
    let appeal = match (given, implied) {
        (AppealBody::Unspecified, Some(implied)) => implied,
        (given, Some(implied)) if given != implied => {
            violations.add("appeal", format!("the channel implies {}", implied.as_str_name()));
            given
        }
        (given, _) => given,
    };
    if appeal != AppealBody::Unspecified
        && contact_type != ContactType::Complaint
        && contact_type != ContactType::Unspecified
    {
        violations.add("appeal", "only a complaint can be an appeal");
    }
    appeal
}

fn profile(profile: Option<&CustomerProfile>, violations: &mut Violations) -> Profile {
    let Some(profile) = profile else {
        return Profile::default();
    };
    let key_like = |value: &str, upper_allowed: bool| {
        value.len() <= MAX_PROFILE_KEY
            && value.chars().all(|c| {
                c.is_ascii_digit()
                    || c.is_ascii_lowercase()
                    || matches!(c, '_' | '-')
                    || (upper_allowed && c.is_ascii_uppercase())
            })
    };
    let segment = profile.segment.trim();
    if !key_like(segment, false) {
        violations.add("customer_profile.segment", "lower-case letters, digits, '_' or '-' (at most 32)");
    }
    let region = profile.region.trim();
    if !key_like(region, true) {
        violations.add("customer_profile.region", "letters, digits, '_' or '-' (at most 32)");
    }
    if !(0..=9).contains(&profile.vip_level) {
        violations.add("customer_profile.vip_level", "0 (none) to 9");
    }
    let products: Vec<String> =
        profile.products.iter().map(|p| p.trim().to_lowercase()).filter(|p| !p.is_empty()).collect();
    if products.len() > MAX_PRODUCTS || products.iter().any(|p| !key_like(p, false)) {
        violations.add(
            "customer_profile.products",
            format!("at most {MAX_PRODUCTS} keys of lower-case letters, digits, '_' or '-'"),
        );
    }
    Profile {
        segment: (!segment.is_empty()).then(|| segment.to_string()),
        vip_level: (profile.vip_level > 0).then_some(profile.vip_level),
        region: (!region.is_empty()).then(|| region.to_string()),
        products,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use csm_kit::time;

    use super::*;
    use crate::{config::IntakeSettings, validate::normalise_phone};

    fn rules() -> Rules {
        Rules::new(&IntakeSettings::default()).unwrap()
    }

    fn complaint() -> SubmitContactRequest {
        SubmitContactRequest {
            request_id: "r-1".into(),
            channel: Channel::HotlineAgent as i32,
            phone_number: "+86 138-1234-5678".into(),
            contact_type: ContactType::Complaint as i32,
            text: "  话费多扣了  ".into(),
            occurred_at: Some(time::to_timestamp(Utc::now())),
            ..Default::default()
        }
    }

    #[test]
    fn accepts_and_normalises_a_valid_complaint() {
        let contact = rules().contact(&complaint(), Utc::now()).unwrap();
        assert_eq!(contact.phone_number, "13812345678");
        assert_eq!(contact.text, "话费多扣了");
        assert!(contact.opens_work_order());
        assert_eq!(normalise_phone("008613812345678"), "13812345678");
    }

    #[test]
    fn names_every_bad_field() {
        let mut request = complaint();
        request.phone_number = "12345".into();
        request.channel = 999;
        request.text = "x".repeat(4001);
        request.occurred_at = None;
        let violations = rules().contact(&request, Utc::now()).unwrap_err();
        let fields: Vec<_> = violations.fields().collect();
        assert_eq!(fields, vec!["channel", "phone_number", "text", "occurred_at"]);
    }

    #[test]
    fn text_limit_is_inclusive_and_counts_characters() {
        let mut request = complaint();
        request.text = "满".repeat(4000);
        assert!(rules().contact(&request, Utc::now()).is_ok());
        request.text.push('满');
        assert!(rules().contact(&request, Utc::now()).is_err());
    }

    #[test]
    fn future_times_beyond_the_skew_are_refused() {
        let now = Utc::now();
        let mut request = complaint();
        request.occurred_at = Some(time::to_timestamp(now + chrono::Duration::seconds(299)));
        assert!(rules().contact(&request, now).is_ok());
        request.occurred_at = Some(time::to_timestamp(now + chrono::Duration::seconds(301)));
        assert!(rules().contact(&request, now).is_err());
    }

    #[test]
    fn the_fingerprint_ignores_only_the_request_id() {
        let a = complaint();
        let mut b = a.clone();
        b.request_id = "r-2".into();
        let (fa, fb) = (rules().contact(&a, Utc::now()).unwrap(), rules().contact(&b, Utc::now()).unwrap());
        assert_eq!(fa.fingerprint, fb.fingerprint);
        b.text = "other".into();
        assert_ne!(fa.fingerprint, rules().contact(&b, Utc::now()).unwrap().fingerprint);
    }

    #[test]
    fn appeal_channels_flag_the_complaint_and_other_types_cannot_appeal() {
        let mut request = complaint();
        request.channel = Channel::RegulatorAppeal as i32;
        assert_eq!(rules().contact(&request, Utc::now()).unwrap().appeal, AppealBody::Regulator);
        request.appeal = AppealBody::ConsumerAssociation as i32;
        assert!(rules().contact(&request, Utc::now()).is_err(), "contradicts the channel");
        let mut inquiry = complaint();
        inquiry.contact_type = ContactType::Inquiry as i32;
        inquiry.appeal = AppealBody::Regulator as i32;
        let violations = rules().contact(&inquiry, Utc::now()).unwrap_err();
        assert_eq!(violations.fields().collect::<Vec<_>>(), vec!["appeal"]);
    }

    #[test]
    fn profiles_are_checked_field_by_field() {
        let mut request = complaint();
        request.customer_profile = Some(CustomerProfile {
            segment: "Premium Plus".into(),
            vip_level: 12,
            region: "GD-SZ".into(),
            products: vec!["mobile".into(), "broad band".into()],
        });
        let violations = rules().contact(&request, Utc::now()).unwrap_err();
        let fields: Vec<_> = violations.fields().collect();
        assert_eq!(fields, vec!["customer_profile.segment", "customer_profile.vip_level", "customer_profile.products"]);
    }

    #[test]
    fn only_complaints_name_an_earlier_order() {
        let mut request = complaint();
        request.related_work_order = "workOrders/abc".into();
        assert_eq!(rules().contact(&request, Utc::now()).unwrap().related_work_order_id.as_deref(), Some("abc"));
        request.related_work_order = "cases/abc".into();
        assert!(rules().contact(&request, Utc::now()).is_err());
    }
}
