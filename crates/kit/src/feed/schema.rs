//! The tables behind a feed, created by [`FeedMigration`], which every service lists first in its
//! migrator: the outbox its events are written to, the head counter that numbers them, the cursors
//! of the feeds it follows, and the dead letters of events it could not apply.

use sea_orm_migration::{prelude::*, schema::*};

pub mod outbox_event {
    use sea_orm::entity::prelude::*;

    /// One published event. `sequence` comes from `feed_head`, so it follows commit order.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox_event")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub sequence: i64,
        pub subject: String,
        /// Full protobuf name of the payload type.
        pub event_type: String,
        /// Microseconds since the epoch.
        pub occurred_at: i64,
        pub traceparent: String,
        pub tracestate: String,
        pub payload: Vec<u8>,
    }

    impl ActiveModelBehavior for ActiveModel {}

    impl Model {
        /// The event as subscribers receive it, published by the service `source`.
        pub fn into_event(self, source: &str) -> csm_proto::feed::v1::Event {
            csm_proto::feed::v1::Event {
                sequence: u64::try_from(self.sequence).unwrap_or(0),
                source: source.to_string(),
                occurred_at: Some(crate::time::timestamp_from_micros(self.occurred_at)),
                subject: self.subject,
                traceparent: self.traceparent,
                tracestate: self.tracestate,
                payload: Some(prost_types::Any {
                    type_url: format!("type.googleapis.com/{}", self.event_type),
                    value: self.payload,
                }),
            }
        }
    }
}

pub mod consumer_cursor {
    use sea_orm::entity::prelude::*;

    /// How far a consumer has applied an upstream feed; written in the same transaction as the
    /// effects of the events up to `last_sequence`.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "consumer_cursor")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub consumer: String,
        pub last_sequence: i64,
        pub updated_at: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod dead_letter {
    use sea_orm::entity::prelude::*;

    /// An upstream event a consumer refused as unusable (it could never apply it), kept whole so it
    /// can be inspected and replayed once the cause is fixed.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "dead_letter")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub consumer: String,
        pub sequence: i64,
        pub event_type: String,
        pub subject: String,
        pub reason: String,
        pub payload: Vec<u8>,
        pub recorded_at: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

#[derive(DeriveIden)]
enum OutboxEvent {
    Table,
    Sequence,
    Subject,
    EventType,
    OccurredAt,
    Traceparent,
    Tracestate,
    Payload,
}

#[derive(DeriveIden)]
enum FeedHead {
    Table,
    Id,
    LastSequence,
}

#[derive(DeriveIden)]
enum ConsumerCursor {
    Table,
    Consumer,
    LastSequence,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DeadLetter {
    Table,
    Id,
    Consumer,
    Sequence,
    EventType,
    Subject,
    Reason,
    Payload,
    RecordedAt,
}

/// Creates the feed tables; list it first in a service's migrator.
pub struct FeedMigration;

impl MigrationName for FeedMigration {
    fn name(&self) -> &str {
        "m20261124_000000_feed"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for FeedMigration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OutboxEvent::Table)
                    .col(big_integer(OutboxEvent::Sequence).primary_key())
                    .col(text(OutboxEvent::Subject))
                    .col(text(OutboxEvent::EventType))
                    .col(big_integer(OutboxEvent::OccurredAt))
                    .col(text(OutboxEvent::Traceparent))
                    .col(text(OutboxEvent::Tracestate))
                    .col(blob(OutboxEvent::Payload))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FeedHead::Table)
                    .col(integer(FeedHead::Id).primary_key())
                    .col(big_integer(FeedHead::LastSequence))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(FeedHead::Table)
                    .columns([FeedHead::Id, FeedHead::LastSequence])
                    .values_panic([1.into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ConsumerCursor::Table)
                    .col(text(ConsumerCursor::Consumer).primary_key())
                    .col(big_integer(ConsumerCursor::LastSequence))
                    .col(big_integer(ConsumerCursor::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DeadLetter::Table)
                    .col(big_pk_auto(DeadLetter::Id))
                    .col(text(DeadLetter::Consumer))
                    .col(big_integer(DeadLetter::Sequence))
                    .col(text(DeadLetter::EventType))
                    .col(text(DeadLetter::Subject))
                    .col(text(DeadLetter::Reason))
                    .col(blob(DeadLetter::Payload))
                    .col(big_integer(DeadLetter::RecordedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            DeadLetter::Table.into_iden(),
            ConsumerCursor::Table.into_iden(),
            FeedHead::Table.into_iden(),
            OutboxEvent::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
