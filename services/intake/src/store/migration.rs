//! Intake's schema, applied at start-up.

use csm_kit::{feed::FeedMigration, lease::LeaseMigration};
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(FeedMigration),
            Box::new(CreateIntakeTables),
            Box::new(LeaseMigration),
            Box::new(OrderDepartments),
            Box::new(DepartmentsOnceKnown),
        ]
    }
}

#[derive(DeriveIden)]
enum Customer {
    Table,
    Id,
    PhoneNumber,
    Segment,
    VipLevel,
    Region,
    Products,
    FirstContactAt,
    LastContactAt,
    LastComplaintAt,
    HfStatus,
    HfQualifiedAt,
    HfRule,
    HfWindowStart,
    HfWindowEnd,
    HfWindowComplaints,
}

#[derive(DeriveIden)]
enum CustomerTag {
    Table,
    CustomerId,
    Tag,
    Note,
    AddedBy,
    AddedAt,
}

/// Columns shared by contacts and work orders.
#[derive(DeriveIden, Clone, Copy)]
enum Shared {
    Id,
    CustomerId,
    Channel,
    ContactType,
    PhoneNumber,
    Text,
    ProblemCode,
    Appeal,
    Segment,
    VipLevel,
    Region,
    Products,
    CreatedAt,
    WorkOrderId,
    RequestId,
    RequestFingerprint,
    OccurredAt,
    Body,
    ProductCode,
}

#[derive(DeriveIden)]
enum Contact {
    Table,
    RecordedBy,
}

#[derive(DeriveIden)]
enum WorkOrder {
    Table,
    Department,
    ContactId,
    Kind,
    Status,
    Topic,
    OpenedAt,
    FirstWorkOrderId,
    ReopenCount,
    ReopenedAt,
}

#[derive(DeriveIden)]
enum UsageEvent {
    Table,
    Kind,
}

#[derive(DeriveIden)]
enum ProductEvent {
    Table,
    Stage,
}

#[derive(DeriveIden)]
enum SurveyAnswer {
    Table,
    Scale,
    Score,
    Question,
}

struct CreateIntakeTables;

impl MigrationName for CreateIntakeTables {
    fn name(&self) -> &str {
        "m20261124_000001_intake"
    }
}

/// The idempotency and body columns every recorded event table has.
fn recorded(table: TableCreateStatement) -> TableCreateStatement {
    let mut table = table;
    table
        .col(string(Shared::Id).primary_key())
        .col(string_null(Shared::RequestId).unique_key())
        .col(string(Shared::RequestFingerprint))
        .col(big_integer(Shared::OccurredAt))
        .col(big_integer(Shared::CreatedAt))
        .col(blob(Shared::Body));
    table
}

fn index(name: &str, table: impl IntoIden, columns: &[Shared]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(*column);
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for CreateIntakeTables {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Customer::Table)
                    .col(string(Customer::Id).primary_key())
                    .col(string(Customer::PhoneNumber).unique_key())
                    .col(string_null(Customer::Segment))
                    .col(integer_null(Customer::VipLevel))
                    .col(string_null(Customer::Region))
                    .col(string_null(Customer::Products))
                    .col(big_integer(Customer::FirstContactAt))
                    .col(big_integer(Customer::LastContactAt))
                    .col(big_integer_null(Customer::LastComplaintAt))
                    .col(string(Customer::HfStatus))
                    .col(big_integer_null(Customer::HfQualifiedAt))
                    .col(string_null(Customer::HfRule))
                    .col(big_integer_null(Customer::HfWindowStart))
                    .col(big_integer_null(Customer::HfWindowEnd))
                    .col(big_integer_null(Customer::HfWindowComplaints))
                    .to_owned(),
            )
            .await?;
        // Only customers who ever met a threshold are listed, so only they are indexed: ordinary
        // customers' complaints do not churn this index.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX customer_by_high_frequency ON customer (hf_status, last_complaint_at) \
                 WHERE hf_status <> 'HIGH_FREQUENCY_STATUS_NONE'",
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CustomerTag::Table)
                    .col(string(CustomerTag::CustomerId))
                    .col(string(CustomerTag::Tag))
                    .col(text(CustomerTag::Note))
                    .col(string(CustomerTag::AddedBy))
                    .col(big_integer(CustomerTag::AddedAt))
                    .primary_key(Index::create().col(CustomerTag::CustomerId).col(CustomerTag::Tag))
                    .to_owned(),
            )
            .await?;

        // Contacts and work orders share the columns describing the contact and the customer.
        let described = |table: &mut TableCreateStatement| {
            table
                .col(string(Shared::Id).primary_key())
                .col(string(Shared::CustomerId))
                .col(string(Shared::Channel))
                .col(string(Shared::ContactType))
                .col(string(Shared::PhoneNumber))
                .col(text(Shared::Text))
                .col(string_null(Shared::ProblemCode))
                .col(string_null(Shared::Appeal))
                .col(string_null(Shared::Segment))
                .col(integer_null(Shared::VipLevel))
                .col(string_null(Shared::Region))
                .col(string_null(Shared::Products))
                .col(big_integer(Shared::CreatedAt));
        };
        let mut contact = Table::create();
        contact.table(Contact::Table);
        described(&mut contact);
        contact
            .col(string_null(Shared::RequestId).unique_key())
            .col(string(Shared::RequestFingerprint))
            .col(big_integer(Shared::OccurredAt))
            .col(string(Contact::RecordedBy))
            .col(string_null(Shared::WorkOrderId));
        manager.create_table(contact).await?;
        manager
            .create_index(index(
                "contact_by_customer",
                Contact::Table,
                &[Shared::CustomerId, Shared::ContactType, Shared::OccurredAt],
            ))
            .await?;

        let mut work_order = Table::create();
        work_order.table(WorkOrder::Table);
        described(&mut work_order);
        work_order
            .col(string(WorkOrder::ContactId))
            .col(string(WorkOrder::Kind))
            .col(string(WorkOrder::Status))
            .col(string_null(WorkOrder::Topic))
            .col(big_integer(WorkOrder::OpenedAt))
            .col(string_null(WorkOrder::FirstWorkOrderId))
            .col(integer(WorkOrder::ReopenCount))
            .col(big_integer_null(WorkOrder::ReopenedAt));
        manager.create_table(work_order).await?;
        manager
            .create_index(
                Index::create()
                    .name("work_order_by_customer_topic")
                    .table(WorkOrder::Table)
                    .col(Shared::CustomerId)
                    .col(WorkOrder::Topic)
                    .col(WorkOrder::OpenedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("work_order_by_opened")
                    .table(WorkOrder::Table)
                    .col(WorkOrder::OpenedAt)
                    .to_owned(),
            )
            .await?;

        let mut usage = recorded(Table::create().table(UsageEvent::Table).to_owned());
        usage.col(string(Shared::CustomerId)).col(string(UsageEvent::Kind)).col(string(Shared::ProductCode));
        manager.create_table(usage).await?;
        manager
            .create_index(index(
                "usage_event_by_customer",
                UsageEvent::Table,
                &[Shared::CustomerId, Shared::OccurredAt],
            ))
            .await?;

        let mut product = recorded(Table::create().table(ProductEvent::Table).to_owned());
        product.col(string(Shared::ProductCode)).col(string(ProductEvent::Stage));
        manager.create_table(product).await?;

        let mut survey = recorded(Table::create().table(SurveyAnswer::Table).to_owned());
        survey
            .col(string(Shared::CustomerId))
            .col(string(SurveyAnswer::Scale))
            .col(double(SurveyAnswer::Score))
            .col(string(SurveyAnswer::Question))
            .col(string_null(Shared::WorkOrderId));
        manager.create_table(survey).await?;
        manager
            .create_index(index(
                "survey_answer_by_customer",
                SurveyAnswer::Table,
                &[Shared::CustomerId, Shared::OccurredAt],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SurveyAnswer::Table.into_iden(),
            ProductEvent::Table.into_iden(),
            UsageEvent::Table.into_iden(),
            WorkOrder::Table.into_iden(),
            Contact::Table.into_iden(),
            CustomerTag::Table.into_iden(),
            Customer::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// The department responsible for each work order's root cause, learned from classification, so
/// that a department caller reads only its own orders and customers.
struct OrderDepartments;

impl MigrationName for OrderDepartments {
    fn name(&self) -> &str {
        "m20261202_000004_order_departments"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for OrderDepartments {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(WorkOrder::Table).add_column(string_null(WorkOrder::Department)).to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("work_order_by_department")
                    .table(WorkOrder::Table)
                    .col(WorkOrder::Department)
                    .col(Shared::CustomerId)
                    .to_owned(),
            )
            .await
    }
}

/// Only work orders whose department is known are indexed by it. An order opens with none; the
/// department arrives with its classification. Indexed from the start, every order opened put an
/// entry under "no department" at its customer's place in the index, one more page for the
/// submission's commit to write, and classification later replaced it. Every lookup by department
/// names one, so none needed those entries.
struct DepartmentsOnceKnown;

impl MigrationName for DepartmentsOnceKnown {
    fn name(&self) -> &str {
        "m20261207_000001_departments_once_known"
    }
}

const BY_DEPARTMENT: &str = "work_order_by_department";

/// The index's definition after `CREATE INDEX name`.
const KNOWN_DEPARTMENTS_ONLY: &str = "ON work_order (department, customer_id) WHERE department IS NOT NULL";

#[async_trait::async_trait]
impl MigrationTrait for DepartmentsOnceKnown {
    /// On PostgreSQL the new index is built beside the old one without blocking the table
    /// (`CONCURRENTLY`, which no transaction can hold), so replicas of the previous version keep
    /// reading and writing work orders while a large table is indexed. Each step can be run again:
    /// a run stopped half-way is finished by the next start. SQLite's whole upgrade is one
    /// transaction of the kit's.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() != sea_orm::DbBackend::Postgres {
            db.execute_unprepared(&format!("DROP INDEX {BY_DEPARTMENT}")).await?;
            db.execute_unprepared(&format!("CREATE INDEX {BY_DEPARTMENT} {KNOWN_DEPARTMENTS_ONLY}")).await?;
            return Ok(());
        }
        let building = format!("{BY_DEPARTMENT}_known");
        // A start stopped after the swap, before the migration was recorded, finds the work done;
        // one stopped after building the new index finds it valid and keeps it; one stopped while
        // building it finds it invalid and builds it again.
        if valid_index(db, BY_DEPARTMENT, "indisvalid AND indpred IS NOT NULL").await? == Some(true) {
            return Ok(());
        }
        let built = valid_index(db, &building, "indisvalid").await?;
        if built == Some(false) {
            db.execute_unprepared(&format!("DROP INDEX CONCURRENTLY {building}")).await?;
        }
        if built != Some(true) {
            db.execute_unprepared(&format!("CREATE INDEX CONCURRENTLY {building} {KNOWN_DEPARTMENTS_ONLY}")).await?;
        }
        db.execute_unprepared(&format!("DROP INDEX CONCURRENTLY IF EXISTS {BY_DEPARTMENT}")).await?;
        db.execute_unprepared(&format!("ALTER INDEX {building} RENAME TO {BY_DEPARTMENT}")).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name(BY_DEPARTMENT).table(WorkOrder::Table).to_owned()).await?;
        manager
            .create_index(
                Index::create()
                    .name(BY_DEPARTMENT)
                    .table(WorkOrder::Table)
                    .col(WorkOrder::Department)
                    .col(Shared::CustomerId)
                    .to_owned(),
            )
            .await
    }
}

/// `condition` over PostgreSQL's `pg_index` row of the index `name`; `None` when there is none.
async fn valid_index(db: &SchemaManagerConnection<'_>, name: &str, condition: &str) -> Result<Option<bool>, DbErr> {
    let query = format!("SELECT {condition} FROM pg_index WHERE indexrelid = to_regclass($1)");
    db.query_one_raw(sea_orm::Statement::from_sql_and_values(sea_orm::DbBackend::Postgres, query, [name.into()]))
        .await?
        .map(|row| row.try_get_by_index::<bool>(0))
        .transpose()
}
