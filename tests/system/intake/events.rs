//! Usage and product lifecycle events, survey answers, and bulk ingest with a result per item.

use chrono::Utc;
use csm_kit::time;
use csm_proto::intake::v1::{
    Activation, CreateProductEventRequest, CreateSurveyAnswerRequest, CreateUsageEventRequest, GetCustomerRequest,
    GetWorkOrderRequest, HighFrequencyStatus, IngestOutcome, IngestRequest, IngestResult, ListWorkOrdersRequest,
    ProductEvent, ProductStage, SubmitContactRequest, SurveyAnswer, SurveyScale, WorkOrderKind, ingest_request::Item,
    usage_event::Detail,
};
use tonic::Code;

use crate::support::{StandaloneIntake, complaint, quality_sample};

fn quality(phone: &str, value: f64) -> CreateUsageEventRequest {
    quality_sample(phone, "FTTH-1000M", "broadband_speed_mbps", value, "Mbps")
}

fn survey(phone: &str, scale: SurveyScale, score: f64, work_order: &str) -> CreateSurveyAnswerRequest {
    CreateSurveyAnswerRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        survey_answer: Some(SurveyAnswer {
            phone_number: phone.into(),
            scale: scale as i32,
            score,
            question: "overall".into(),
            indicator: "csat".into(),
            work_order: work_order.into(),
            occurred_at: Some(time::to_timestamp(Utc::now())),
            ..Default::default()
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_product_and_survey_events_are_recorded_once_and_checked() {
    let intake = StandaloneIntake::start(|_| {}).await;
    let mut gateway = intake.intake();
    let sample = quality("13600000001", 87.5);
    let stored = gateway.create_usage_event(sample.clone()).await.unwrap().into_inner();
    assert!(stored.name.starts_with("usageEvents/"));
    assert!(stored.customer.starts_with("customers/"));
    assert_eq!(gateway.create_usage_event(sample.clone()).await.unwrap().into_inner(), stored, "a retry");
    let mut changed = sample.clone();
    changed.usage_event.as_mut().unwrap().product_code = "5G-199".into();
    assert_eq!(gateway.create_usage_event(changed).await.unwrap_err().code(), Code::AlreadyExists);

    let mut failed = quality("13600000001", 0.0);
    failed.usage_event.as_mut().unwrap().detail =
        Some(Detail::Activation(Activation { success: false, failure_reason: String::new() }));
    let status = gateway.create_usage_event(failed).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("usage_event.activation.failure_reason"), "{}", status.message());

    let retired = gateway
        .create_product_event(CreateProductEventRequest {
            request_id: "retire-2g".into(),
            product_event: Some(ProductEvent {
                product_code: "GSM-BASIC".into(),
                stage: ProductStage::Retirement as i32,
                notice_days: 90,
                occurred_at: Some(time::to_timestamp(Utc::now())),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retired.notice_days, 90);

    let order =
        gateway.submit_contact(complaint("13600000001", "网速慢")).await.unwrap().into_inner().work_order.unwrap();
    let answer = gateway
        .create_survey_answer(survey("13600000001", SurveyScale::Likert5, 4.0, &order.name))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.work_order, order.name);
    let status = gateway.create_survey_answer(survey("13600000001", SurveyScale::Likert5, 6.0, "")).await.unwrap_err();
    assert!(status.message().contains("survey_answer.score"), "{}", status.message());
    let status =
        gateway.create_survey_answer(survey("13600000002", SurveyScale::Score010, 9.0, &order.name)).await.unwrap_err();
    assert!(status.message().contains("another customer"), "{}", status.message());

    let customer = intake
        .client("agent")
        .get_customer(GetCustomerRequest { phone_number: "13600000001".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(customer.summary.unwrap().survey_answers, 1);
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_answers_every_item_in_order_and_stores_only_whole_items() {
    let intake = StandaloneIntake::start(|_| {}).await;
    let repeated = complaint("13600000010", "话费多扣");
    let mut bad_phone = complaint("12", "x");
    bad_phone.request_id = "bad".into();
    let mut stranger = complaint("13600000011", "我的问题");
    stranger.related_work_order = "workOrders/missing".into();
    let mut reused = repeated.clone();
    reused.text = "另一件事".into();
    let items = vec![
        Item::Contact(repeated.clone()),
        Item::UsageEvent(quality("13600000010", 12.5)),
        Item::Contact(bad_phone),
        Item::Contact(repeated.clone()),
        Item::Contact(stranger),
        Item::SurveyAnswer(survey("13600000010", SurveyScale::Score010, 3.0, "")),
        Item::Contact(reused),
    ];
    let requests: Vec<IngestRequest> = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| IngestRequest { item_id: format!("item-{i}"), item: Some(item) })
        .collect();
    let mut results = intake.intake().ingest(tokio_stream::iter(requests)).await.unwrap().into_inner();
    let mut outcomes = Vec::new();
    while let Some(result) = results.message().await.unwrap() {
        outcomes.push((result.index, result.item_id.clone(), result.outcome(), result));
    }
    let kinds: Vec<IngestOutcome> = outcomes.iter().map(|o| o.2).collect();
    use IngestOutcome::*;
    assert_eq!(kinds, vec![Accepted, Accepted, Rejected, Duplicate, Rejected, Accepted, Rejected]);
    assert_eq!(outcomes.iter().map(|o| o.0).collect::<Vec<_>>(), (0..7).collect::<Vec<_>>());
    assert_eq!(outcomes[3].3.name, outcomes[0].3.name, "the duplicate names the stored contact");
    assert!(outcomes[0].3.work_order.starts_with("workOrders/"));
    assert_eq!(outcomes[2].3.violations[0].field, "phone_number");
    assert_eq!(outcomes[4].3.violations[0].field, "related_work_order");
    assert_eq!(outcomes[6].3.violations[0].field, "request_id");

    // The refused complaint left nothing behind: no customer, no work order.
    let refused = intake
        .client("agent")
        .get_customer(GetCustomerRequest { phone_number: "13600000011".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);
    let orders = intake
        .intake()
        .list_work_orders(ListWorkOrdersRequest { phone_number: "13600000010".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .work_orders;
    assert_eq!(orders.len(), 1, "the duplicate stored nothing");
    intake.stop().await;
}

/// Every item of `contacts` through one Ingest stream, the results in order.
async fn ingest(intake: &StandaloneIntake, contacts: Vec<SubmitContactRequest>) -> Vec<IngestResult> {
    let requests: Vec<IngestRequest> = contacts
        .into_iter()
        .enumerate()
        .map(|(i, contact)| IngestRequest { item_id: format!("item-{i}"), item: Some(Item::Contact(contact)) })
        .collect();
    let mut stream = intake.intake().ingest(tokio_stream::iter(requests)).await.unwrap().into_inner();
    let mut results = Vec::new();
    while let Some(result) = stream.message().await.unwrap() {
        results.push(result);
    }
    results
}

/// A stream longer than `intake.write_batch` is committed a write batch at a time; an item sees
/// what the items of earlier transactions stored: its request id, the problem it repeats, the
/// complaints that make its customer a high-frequency complainant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_in_write_batches_sees_what_earlier_batches_stored() {
    let intake = StandaloneIntake::start(|settings| settings.write_batch = 2).await;
    let phone = "13600000020";
    let mut first = complaint(phone, "宽带断了");
    first.problem_code = "BB-LOSS".into();
    let mut repeat = complaint(phone, "宽带又断了");
    repeat.problem_code = "BB-LOSS".into();
    let contacts = vec![
        first.clone(),
        complaint("13600000021", "话费多扣"),
        first.clone(),
        repeat,
        complaint(phone, "还是没人处理"),
    ];
    let results = ingest(&intake, contacts).await;

    use IngestOutcome::*;
    let outcomes: Vec<IngestOutcome> = results.iter().map(IngestResult::outcome).collect();
    assert_eq!(outcomes, vec![Accepted, Accepted, Duplicate, Accepted, Accepted]);
    assert_eq!(results[2].name, results[0].name, "the duplicate names the contact stored by the batch before");
    let repeated = intake
        .intake()
        .get_work_order(GetWorkOrderRequest { name: results[3].work_order.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(repeated.kind(), WorkOrderKind::Repeat);
    assert_eq!(repeated.first_work_order, results[0].work_order);
    assert_eq!(
        super::high_frequency::status(&intake, phone).await,
        HighFrequencyStatus::Active,
        "three complaints within seven days, ingested across write batches"
    );
    intake.stop().await;
}
