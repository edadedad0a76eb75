//! The closed loop: the regulator's clock on every case, detractor care tasks and the loops they
//! close, and the high-frequency flag used to choose how a customer is reached.

use sea_orm_migration::{prelude::*, schema::*};

use super::tables::{CareTask, CaseFile, CustomerFlag, Detractor};

pub struct ClosedLoop;

impl MigrationName for ClosedLoop {
    fn name(&self) -> &str {
        "m20261202_000004_closed_loop"
    }
}

/// Fifteen days and one, in microseconds: the default answer due time of a case opened before
/// the clock was kept (its day of raising does not count).
const LEGACY_ANSWER_WINDOW: i64 = 16 * 24 * 3_600_000_000;

#[async_trait::async_trait]
impl MigrationTrait for ClosedLoop {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for mut column in [
            big_integer(CaseFile::AnswerDue).default(0).to_owned(),
            integer(CaseFile::AppealRiskLevel).default(0).to_owned(),
        ] {
            manager.alter_table(Table::alter().table(CaseFile::Table).add_column(&mut column).to_owned()).await?;
        }
        manager
            .exec_stmt(
                Query::update()
                    .table(CaseFile::Table)
                    .value(CaseFile::AnswerDue, Expr::col(CaseFile::OpenedAt).add(LEGACY_ANSWER_WINDOW))
                    .to_owned(),
            )
            .await?;
        // The appeal-risk sweep and the queue by answer due time.
        manager
            .create_index(
                Index::create()
                    .name("case_file_answer_due")
                    .table(CaseFile::Table)
                    .col(CaseFile::AnswerDue)
                    .col(CaseFile::Id)
                    .to_owned(),
            )
            .await?;
        let care_columns = [
            string(CareTask::Reason).default("CARE_REASON_PREDICTED_RISK").to_owned(),
            string_null(CareTask::SurveyAnswerId),
            blob_null(CareTask::Answer),
            blob_null(CareTask::History),
            string(CareTask::ContactMethod).default("").to_owned(),
            string(CareTask::ContactReason).default("").to_owned(),
            big_integer_null(CareTask::FollowUpAt),
            big_integer_null(CareTask::RecoverAt),
            string_null(CareTask::CaseId),
        ];
        for mut column in care_columns {
            manager.alter_table(Table::alter().table(CareTask::Table).add_column(&mut column).to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Detractor::Table)
                    .col(string(Detractor::SurveyAnswerId).primary_key())
                    .col(string(Detractor::PhoneNumber))
                    .col(blob(Detractor::Answer))
                    .col(big_integer(Detractor::AnsweredAt))
                    .col(string(Detractor::Route))
                    .col(string_null(Detractor::CaseId))
                    .col(string_null(Detractor::CareTaskId))
                    .col(string(Detractor::Department))
                    .col(string(Detractor::ContactMethod))
                    .col(big_integer_null(Detractor::ContactAt))
                    .col(big_integer_null(Detractor::CloseAt))
                    .col(big_integer_null(Detractor::RecoverAt))
                    .col(string(Detractor::Region))
                    .col(string(Detractor::Segment))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("detractor_phone", Detractor::PhoneNumber),
            ("detractor_case", Detractor::CaseId),
            ("detractor_care_task", Detractor::CareTaskId),
        ] {
            manager.create_index(Index::create().name(name).table(Detractor::Table).col(column).to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(CustomerFlag::Table)
                    .col(string(CustomerFlag::PhoneNumber).primary_key())
                    .col(boolean(CustomerFlag::HighFrequency))
                    .col(big_integer(CustomerFlag::ChangedAt))
                    .to_owned(),
            )
            .await
    }
}
