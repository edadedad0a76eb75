//! `csm demo`: starts the four services, submits a small realistic batch of contacts (Chinese and
//! English, across channels, raised over the last three days), lets each department resolve part
//! of its cases, and reports the indicators that come out the other end. It can run any number of
//! times against the same system: it waits for what its own contacts add to the indicators.

use std::{collections::BTreeMap, fmt, time::Duration};

use chrono::Utc;
use csm_kit::time;
use csm_proto::{
    classification::v1::{GetClassificationRequest, Method},
    intake::v1::{Channel, ContactType, CustomerProfile, SubmitContactRequest},
    measurement::v1::{Dimension, Granularity, QuerySeriesRequest, Series},
    recovery::v1::{Case, CaseStatus, ListCasesRequest, ResolveCaseRequest, Transition, TransitionCaseRequest},
};

use crate::{clients, system::Addresses, tokens::DevTokens};

/// One contact of the demo batch.
struct Sample {
    channel: Channel,
    contact_type: ContactType,
    phone: &'static str,
    text: &'static str,
    hours_ago: i64,
}

const fn complaint(channel: Channel, phone: &'static str, text: &'static str, hours_ago: i64) -> Sample {
    Sample { channel, contact_type: ContactType::Complaint, phone, text, hours_ago }
}

const BATCH: [Sample; 26] = [
    complaint(Channel::HotlineAgent, "13800138001", "这个月话费莫名多扣了58元，要求退还", 70),
    complaint(Channel::Wechat, "13900139002", "手机里有一笔信息费，我从来没有订购过任何增值业务", 66),
    Sample {
        channel: Channel::CommunityManager,
        contact_type: ContactType::FaultReport,
        phone: "13700137003",
        text: "家里宽带断网两天了，光猫红灯一直闪",
        hours_ago: 60,
    },
    complaint(Channel::MobileApp, "13600136004", "小区里信号差，室内经常没信号", 52),
    complaint(Channel::HotlineIvr, "15000150005", "打电话经常掉话，通话中断好几次", 48),
    complaint(Channel::PhysicalStore, "15100151006", "营业厅工作人员态度很差，很不耐烦", 45),
    complaint(Channel::Sms, "15200152007", "每天收到垃圾短信和骚扰电话", 40),
    complaint(Channel::OnlineStore, "15800158008", "网上营业厅充值失败，钱却没有退回", 38),
    complaint(Channel::HotlineAgent, "18800188009", "上个月投诉的问题一直没解决，也没人处理", 36),
    complaint(Channel::VipAccountManager, "13500135010", "客户经理承诺的优惠到现在还没兑现", 30),
    complaint(Channel::RegulatorAppeal, "13300133011", "套餐资费不合理，合约到期后被自动续约", 28),
    complaint(Channel::HotlineAgent, "13800138012", "国际漫游费用太高，事先没有任何提醒", 20),
    complaint(Channel::Wechat, "13900139013", "流量明明没用多少，却提示已经超出", 12),
    complaint(Channel::HotlineAgent, "17700177014", "请尽快回电联系我", 6),
    complaint(Channel::SocialMedia, "13812345615", "I was overcharged on my bill again this month", 68),
    complaint(
        Channel::EnterpriseAccountManager,
        "13912345616",
        "Our office broadband is down and the fiber router shows no link",
        62,
    ),
    complaint(Channel::MobileApp, "13712345617", "The app keeps crashing when I pay, payment failed twice", 50),
    complaint(Channel::HotlineAgent, "13612345618", "Calls drop every evening at home", 44),
    complaint(Channel::CustomerClub, "13512345619", "The agent was rude and hung up on me", 26),
    complaint(Channel::HotlineIvr, "13412345620", "I cannot get through to a person, always on hold", 22),
    complaint(Channel::SocialMedia, "13312345621", "There is no signal in my apartment building", 16),
    complaint(
        Channel::ConsumerAssociationAppeal,
        "13212345622",
        "A premium SMS subscription I never ordered keeps charging me",
        10,
    ),
    complaint(Channel::SurveyCallback, "13112345623", "Still not fixed after the technician visit last week", 4),
    complaint(Channel::HotlineAgent, "13012345624", "Just calling to check on things", 2),
    Sample {
        channel: Channel::HotlineIvr,
        contact_type: ContactType::Inquiry,
        phone: "13800138001",
        text: "查询本月账单明细",
        hours_ago: 3,
    },
    Sample {
        channel: Channel::Wechat,
        contact_type: ContactType::Praise,
        phone: "13700137003",
        text: "装维师傅上门很及时，表扬",
        hours_ago: 1,
    },
];

/// What the demo saw in each service.
#[derive(Debug, Clone)]
pub struct DemoReport {
    pub contacts: usize,
    pub work_orders: usize,
    pub classified_by_rule: usize,
    /// Placed by the text model in force (out of the box, the starter model).
    pub classified_by_model: usize,
    pub sent_to_review: usize,
    pub cases: Vec<Case>,
    pub resolved: usize,
    pub opened: Series,
    pub on_time: Series,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("client: {0}")]
    Client(#[from] clients::ClientError),
    #[error("call failed: {0}")]
    Call(#[from] tonic::Status),
    #[error("{0}")]
    Timeout(String),
}

/// What the indicators the demo reads have counted in its window: complaints opened (and of them
/// not yet placed in a category), and resolutions.
#[derive(Debug, Clone, Copy)]
struct Counted {
    opened: i64,
    unclassified: i64,
    resolved: i64,
}

impl Counted {
    fn of(opened: &Series, on_time: &Series) -> Self {
        Self {
            opened: opened.points.iter().map(|p| p.numerator).sum(),
            unclassified: opened
                .points
                .iter()
                .filter(|p| p.dimension_value == "unclassified")
                .map(|p| p.numerator)
                .sum(),
            resolved: on_time.points.iter().map(|p| p.denominator).sum(),
        }
    }
}

/// Polls `check` every 50 ms until it yields a value, for at most `limit`.
async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> Result<T, DemoError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, DemoError>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(DemoError::Timeout(format!("gave up waiting for {what}")));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Walks the batch through the services at `addresses`.
pub async fn run(addresses: Addresses, tokens: &DevTokens) -> Result<DemoReport, DemoError> {
    let admin = tokens.administrator();
    let gateway = tokens.of("channel-gateway").unwrap_or(admin);
    let mut intake = clients::intake(addresses.intake, gateway)?;
    let now = Utc::now();
    let mut measurement = clients::measurement(addresses.measurement, tokens.of("analyst").unwrap_or(admin))?;
    let query = |indicator: &str| QuerySeriesRequest {
        indicator: format!("indicators/{indicator}"),
        granularity: Granularity::Day as i32,
        group_by: Dimension::Category as i32,
        start_time: Some(time::to_timestamp(now - chrono::Duration::days(5))),
        end_time: Some(time::to_timestamp(now + chrono::Duration::days(1))),
        ..QuerySeriesRequest::default()
    };
    // What the indicators counted before this run (earlier runs against the same system), so the
    // run waits for its own complaints and resolutions to be counted.
    let before = Counted::of(
        &measurement.query_series(query("complaints_opened")).await?.into_inner(),
        &measurement.query_series(query("on_time_resolution_rate")).await?.into_inner(),
    );
    let mut work_orders = Vec::new();
    for (i, sample) in BATCH.iter().enumerate() {
        let response = intake
            .submit_contact(SubmitContactRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                channel: sample.channel as i32,
                phone_number: sample.phone.to_string(),
                contact_type: sample.contact_type as i32,
                text: sample.text.to_string(),
                occurred_at: Some(time::to_timestamp(now - chrono::Duration::hours(sample.hours_ago))),
                customer_profile: Some(CustomerProfile {
                    segment: ["premium", "youth", "prepaid", "family"][i % 4].into(),
                    vip_level: i32::try_from(i % 3).unwrap_or(0),
                    region: ["GD-SZ", "GD-GZ", "GD-FS"][i % 3].into(),
                    products: vec!["mobile".into()],
                }),
                ..Default::default()
            })
            .await?
            .into_inner();
        if let Some(order) = response.work_order {
            work_orders.push(order.name);
        }
    }

    let recovery = clients::recovery(addresses.recovery, admin)?;
    let expected = work_orders.len();
    let cases = eventually("every work order to be dispatched", Duration::from_secs(60), || {
        let mut recovery = recovery.clone();
        let work_orders = &work_orders;
        async move {
            let mut ours = Vec::new();
            let mut request =
                ListCasesRequest { status: CaseStatus::Dispatched as i32, page_size: 500, ..Default::default() };
            loop {
                let listed = recovery.list_cases(request.clone()).await?.into_inner();
                ours.extend(listed.cases.into_iter().filter(|case| work_orders.contains(&case.work_order)));
                if listed.next_page_token.is_empty() {
                    break;
                }
                request.page_token = listed.next_page_token;
            }
            Ok((ours.len() == expected).then_some(ours))
        }
    })
    .await?;

    let mut classification = clients::classification(addresses.classification, admin)?;
    let (mut classified_by_rule, mut classified_by_model, mut sent_to_review) = (0, 0, 0);
    for name in &work_orders {
        let found = classification
            .get_classification(GetClassificationRequest { name: format!("{name}/classification") })
            .await?
            .into_inner();
        if found.method == Method::Rule as i32 {
            classified_by_rule += 1;
        } else if found.method == Method::Model as i32 && !found.needs_review {
            classified_by_model += 1;
        }
        if found.needs_review {
            sent_to_review += 1;
        }
    }

    // Each department accepts its cases (taking first responsibility) and resolves two of every
    // three, with its own token.
    let departments = tokens.departments();
    let mut resolved = 0;
    for (i, case) in cases.iter().enumerate() {
        let token = departments.get(&case.department).map_or(admin, String::as_str);
        let mut department = clients::recovery(addresses.recovery, token)?;
        department
            .transition_case(TransitionCaseRequest {
                name: case.name.clone(),
                transition: Transition::Accept as i32,
                request_id: format!("accept-{}", case.name),
                ..Default::default()
            })
            .await?;
        if i % 3 == 2 {
            continue;
        }
        department
            .resolve_case(ResolveCaseRequest {
                name: case.name.clone(),
                resolution: "已联系客户并处理；cause fixed and customer informed".into(),
                request_id: format!("resolve-{}", case.name),
            })
            .await?;
        resolved += 1;
    }

    let (opened, on_time) = eventually("the indicators to count every case", Duration::from_secs(60), || {
        let mut measurement = measurement.clone();
        let (opened, on_time) = (query("complaints_opened"), query("on_time_resolution_rate"));
        async move {
            let opened = measurement.query_series(opened).await?.into_inner();
            let on_time = measurement.query_series(on_time).await?.into_inner();
            let now = Counted::of(&opened, &on_time);
            let done = now.opened - before.opened >= expected as i64
                && now.resolved - before.resolved >= resolved as i64
                && now.unclassified <= before.unclassified;
            Ok(done.then_some((opened, on_time)))
        }
    })
    .await?;
    measurement.list_indicators(csm_proto::measurement::v1::ListIndicatorsRequest {}).await?;

    Ok(DemoReport {
        contacts: BATCH.len(),
        work_orders: expected,
        classified_by_rule,
        classified_by_model,
        sent_to_review,
        cases,
        resolved,
        opened,
        on_time,
    })
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let departments: BTreeMap<&str, usize> = self.cases.iter().fold(BTreeMap::new(), |mut acc, case| {
            *acc.entry(case.department.as_str()).or_default() += 1;
            acc
        });
        writeln!(f, "intake          {} contacts recorded, {} work orders opened", self.contacts, self.work_orders)?;
        writeln!(
            f,
            "classification  {} routed by rule, {} by the text model, {} sent to review",
            self.classified_by_rule, self.classified_by_model, self.sent_to_review
        )?;
        writeln!(
            f,
            "recovery        {} cases dispatched to {} departments, {} resolved by their departments; cases per department:",
            self.cases.len(),
            departments.len(),
            self.resolved
        )?;
        for (department, count) in &departments {
            writeln!(f, "                  {department:<24}{count:>3}")?;
        }
        writeln!(f)?;

        writeln!(
            f,
            "measurement     complaints opened by day and category  [{}, days in {}]",
            self.opened.indicator, self.opened.time_zone
        )?;
        let categories: Vec<&str> = {
            let mut all: Vec<&str> = self.opened.points.iter().map(|p| p.dimension_value.as_str()).collect();
            all.sort_unstable();
            all.dedup();
            all
        };
        write!(f, "  {:<12}", "day")?;
        for category in &categories {
            write!(f, "{category:>10}")?;
        }
        writeln!(f, "{:>10}", "total")?;
        let mut days: Vec<&str> = self.opened.points.iter().map(|p| p.period.as_str()).collect();
        days.dedup();
        for day in days {
            write!(f, "  {day:<12}")?;
            let mut total = 0;
            for category in &categories {
                let count = self
                    .opened
                    .points
                    .iter()
                    .find(|p| p.period == day && p.dimension_value == *category)
                    .map_or(0, |p| p.numerator);
                total += count;
                write!(f, "{count:>10}")?;
            }
            writeln!(f, "{total:>10}")?;
        }
        writeln!(f)?;

        writeln!(f, "measurement     on-time resolution rate by day and category  [{}]", self.on_time.indicator)?;
        writeln!(f, "  {:<12}{:<12}{:>10}{:>10}{:>10}", "day", "category", "resolved", "on time", "rate")?;
        for point in &self.on_time.points {
            writeln!(
                f,
                "  {:<12}{:<12}{:>10}{:>10}{:>9.1}%",
                point.period,
                point.dimension_value,
                point.denominator,
                point.numerator,
                point.value * 100.0
            )?;
        }
        let (on_time, all) = self.on_time.points.iter().fold((0, 0), |(n, d), p| (n + p.numerator, d + p.denominator));
        if all > 0 {
            writeln!(f, "  {:<24}{all:>10}{on_time:>10}{:>9.1}%", "all days", on_time as f64 * 100.0 / all as f64)?;
        }
        Ok(())
    }
}
