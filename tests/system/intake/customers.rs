//! Customers upserted from contacts, their contact-history summary, respectful tags, and the
//! work-order listing.

use csm_proto::intake::v1::{
    AddCustomerTagRequest, AppealBody, Channel, ContactType, CustomerProfile, GetCustomerRequest,
    ListWorkOrdersRequest, RemoveCustomerTagRequest,
};
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::{StandaloneIntake, complaint, complaint_days_ago};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_is_known_from_their_contacts_with_a_summary_of_them() {
    let intake = StandaloneIntake::start(|_| {}).await;
    let phone = "13700000001";
    let mut first = complaint_days_ago(phone, "宽带断网", 40.0);
    first.customer_profile = Some(CustomerProfile {
        segment: "premium".into(),
        vip_level: 3,
        region: "GD-SZ".into(),
        products: vec!["broadband".into()],
    });
    intake.intake().submit_contact(first).await.unwrap();
    let mut inquiry = complaint(phone, "查询余额");
    inquiry.contact_type = ContactType::Inquiry as i32;
    // A later contact updates the region and keeps what it does not give.
    inquiry.customer_profile = Some(CustomerProfile { region: "GD-GZ".into(), ..Default::default() });
    intake.intake().submit_contact(inquiry).await.unwrap();
    let mut appeal = complaint_days_ago(phone, "投诉一直没解决", 2.0);
    appeal.channel = Channel::ConsumerAssociationAppeal as i32;
    let appealed = intake.intake().submit_contact(appeal).await.unwrap().into_inner();
    assert_eq!(appealed.contact.unwrap().appeal(), AppealBody::ConsumerAssociation);

    let by_phone = intake
        .client("agent")
        .get_customer(GetCustomerRequest { phone_number: "+86 137 0000 0001".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let by_name = intake
        .client("analyst")
        .get_customer(GetCustomerRequest { name: by_phone.name.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_phone, by_name);
    let profile = by_phone.profile.unwrap();
    assert_eq!((profile.segment.as_str(), profile.vip_level, profile.region.as_str()), ("premium", 3, "GD-GZ"));
    let summary = by_phone.summary.unwrap();
    assert_eq!((summary.contacts, summary.work_orders, summary.appeals), (3, 2, 1));
    assert_eq!((summary.complaints_last_7_days, summary.complaints_last_30_days), (1, 1));
    assert_eq!(summary.recent_work_orders.len(), 2);
    let complaints = summary.by_type.iter().find(|t| t.contact_type() == ContactType::Complaint).unwrap();
    assert_eq!(complaints.count, 2);

    let missing = intake
        .client("agent")
        .get_customer(GetCustomerRequest { phone_number: "13700009999".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn derogatory_labels_are_refused_and_respectful_tags_kept() {
    let intake = StandaloneIntake::start(|_| {}).await;
    let contact = intake.intake().submit_contact(complaint("13700000002", "网速慢")).await.unwrap().into_inner();
    let customer = contact.contact.unwrap().customer;
    let mut agent = intake.client("agent");
    for label in ["刁民", "恶意客户", "黑名单客户", "Troublemaker", "malicious_customer", "Blacklisted Customer"]
    {
        let status = agent
            .add_customer_tag(AddCustomerTagRequest { name: customer.clone(), tag: label.into(), note: String::new() })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{label}");
        let fields: Vec<String> = status
            .get_error_details()
            .bad_request()
            .unwrap()
            .field_violations
            .iter()
            .map(|v| v.field.clone())
            .collect();
        assert_eq!(fields, vec!["tag"]);
    }
    let status = agent
        .add_customer_tag(AddCustomerTagRequest {
            name: customer.clone(),
            tag: "elderly".into(),
            note: "这个人是刁民".into(),
        })
        .await
        .unwrap_err();
    assert!(status.message().contains("note"), "{}", status.message());

    let tagged = agent
        .add_customer_tag(AddCustomerTagRequest {
            name: customer.clone(),
            tag: "Heavy_Data_User".into(),
            note: "prefers SMS callbacks".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tagged.tags.iter().map(|t| t.tag.as_str()).collect::<Vec<_>>(), vec!["heavy_data_user"]);
    assert_eq!(tagged.tags[0].added_by, "agent");
    let untagged = agent
        .remove_customer_tag(RemoveCustomerTagRequest { name: customer.clone(), tag: "heavy_data_user".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(untagged.tags.is_empty());

    let status = intake
        .client("channel-gateway")
        .add_customer_tag(AddCustomerTagRequest { name: customer, tag: "vip".into(), note: String::new() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_orders_list_newest_first_page_by_page_with_filters() {
    let intake = StandaloneIntake::start(|_| {}).await;
    for days in [5.0, 4.0, 3.0, 2.0, 1.0] {
        intake.intake().submit_contact(complaint_days_ago("13700000003", "断网", days)).await.unwrap();
    }
    let mut wechat = complaint_days_ago("13700000004", "断网", 0.5);
    wechat.channel = Channel::Wechat as i32;
    intake.intake().submit_contact(wechat).await.unwrap();

    let mut agent = intake.client("agent");
    let mut request = ListWorkOrdersRequest { phone_number: "13700000003".into(), page_size: 2, ..Default::default() };
    let mut seen = Vec::new();
    loop {
        let page = agent.list_work_orders(request.clone()).await.unwrap().into_inner();
        seen.extend(page.work_orders.iter().map(|o| o.open_time.unwrap().seconds));
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    assert_eq!(seen.len(), 5);
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first, no repeats");

    let by_channel = agent
        .list_work_orders(ListWorkOrdersRequest { channel: Channel::Wechat as i32, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_channel.work_orders.len(), 1);

    let first_page =
        agent.list_work_orders(ListWorkOrdersRequest { page_size: 2, ..Default::default() }).await.unwrap();
    let status = agent
        .list_work_orders(ListWorkOrdersRequest {
            channel: Channel::Sms as i32,
            page_token: first_page.into_inner().next_page_token,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "a token is tied to its filters");
    intake.stop().await;
}
