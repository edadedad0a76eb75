//! Four eyes on large compensation: the first of the two approvers an amount above the operator's
//! threshold needs.

use sea_orm_migration::{prelude::*, schema::*};

use super::tables::RecoveryAction;

pub struct SecondApproval;

impl MigrationName for SecondApproval {
    fn name(&self) -> &str {
        "m20261202_000003_second_approval"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SecondApproval {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RecoveryAction::Table)
                    .add_column(string_null(RecoveryAction::FirstApprovedBy))
                    .to_owned(),
            )
            .await
    }
}
