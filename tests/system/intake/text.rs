//! Text as customers and agents type it (tabs, line breaks, backslashes, the letters of a bulk
//! format's NULL marker, Chinese and emoji) is stored and read back exactly, whether it came
//! alone or in a batch of a bulk ingest. On PostgreSQL a batch's new rows travel as array
//! parameters, or in `COPY`'s text format when a table takes many, where every one of these needs
//! escaping (the kit's feed tests write both ways directly).

use csm_proto::intake::v1::{
    GetWorkOrderRequest, IngestOutcome, IngestRequest, SubmitContactRequest, ingest_request::Item,
};

use crate::support::{StandaloneIntake, complaint};

const AWKWARD: [&str; 7] = [
    "tab\there",
    "line\nbreak, then CR LF\r\nend",
    "back\\slash and \\t written out",
    "\\N",
    "\\.",
    "trailing backslash\\",
    "网速慢，已投诉三次 😠\t结束",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awkward_text_is_stored_and_read_back_exactly_alone_and_in_bulk() {
    let intake = StandaloneIntake::start(|_| {}).await;
    let alone: Vec<SubmitContactRequest> =
        AWKWARD.iter().enumerate().map(|(i, text)| complaint(&format!("1370000100{i}"), text)).collect();
    for request in &alone {
        intake.intake().submit_contact(request.clone()).await.unwrap();
    }
    let bulk: Vec<SubmitContactRequest> =
        AWKWARD.iter().enumerate().map(|(i, text)| complaint(&format!("1370000200{i}"), text)).collect();
    let items: Vec<IngestRequest> = bulk
        .iter()
        .enumerate()
        .map(|(i, request)| IngestRequest { item_id: format!("item-{i}"), item: Some(Item::Contact(request.clone())) })
        .collect();
    let mut results = intake.intake().ingest(tokio_stream::iter(items)).await.unwrap().into_inner();
    while let Some(result) = results.message().await.unwrap() {
        assert_eq!(result.outcome(), IngestOutcome::Accepted, "{result:?}");
    }

    for (request, expected) in alone.iter().chain(&bulk).zip(AWKWARD.iter().chain(&AWKWARD)) {
        // The same request again is answered from what was stored: the contact row and its order.
        let replay = intake.intake().submit_contact(request.clone()).await.unwrap().into_inner();
        let contact = replay.contact.unwrap();
        assert_eq!(contact.text, *expected);
        let order_name = replay.work_order.unwrap().name;
        let order =
            intake.client("agent").get_work_order(GetWorkOrderRequest { name: order_name }).await.unwrap().into_inner();
        assert_eq!(order.text, *expected);
    }
    intake.stop().await;
}
