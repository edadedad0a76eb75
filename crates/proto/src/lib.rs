//! The csm contracts as Rust: message types, gRPC clients and servers for every package under
//! `proto/`, generated at build time.

#![allow(clippy::all, missing_docs, rust_2018_idioms)]

include!(concat!(env!("OUT_DIR"), "/csm.rs"));

/// The encoded `FileDescriptorSet` of every contract and its imports, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/csm_descriptor.bin"));

pub use csm::{classification, feed, intake, measurement, recovery};

/// A contract enum as a database column keeps it: its name in the contract
/// (`CASE_STATUS_RESOLVED`), stable when values are renumbered and readable in SQL. Every service
/// stores enums this one way.
pub trait StoredEnum: Sized {
    /// The text stored for this value.
    fn stored(self) -> String;
    /// The value a stored text stands for; the unspecified value for a text this version does not
    /// know (a newer version's value, or a hand edit).
    fn from_stored(text: &str) -> Self;
}

macro_rules! stored_enums {
    ($($enum:path),* $(,)?) => {$(
        impl StoredEnum for $enum {
            fn stored(self) -> String {
                self.as_str_name().to_string()
            }

            fn from_stored(text: &str) -> Self {
                Self::from_str_name(text).unwrap_or_default()
            }
        }
    )*};
}

stored_enums!(
    classification::v1::Method,
    classification::v1::TrainingJobState,
    intake::v1::AppealBody,
    intake::v1::Channel,
    intake::v1::ContactType,
    intake::v1::DisputeOutcome,
    intake::v1::HighFrequencyRule,
    intake::v1::HighFrequencyStatus,
    intake::v1::IngestOutcome,
    intake::v1::ProductStage,
    intake::v1::SurveyScale,
    intake::v1::WorkOrderKind,
    intake::v1::WorkOrderStatus,
    measurement::v1::CoreProcess,
    measurement::v1::Dimension,
    measurement::v1::Direction,
    measurement::v1::DriverQuadrant,
    measurement::v1::Granularity,
    measurement::v1::IndicatorKind,
    measurement::v1::IndicatorStatus,
    measurement::v1::ReportFormat,
    recovery::v1::CallbackOutcome,
    recovery::v1::CareOutcome,
    recovery::v1::CareReason,
    recovery::v1::CaseStatus,
    recovery::v1::ContactMethod,
    recovery::v1::DetractorRoute,
    recovery::v1::ProgrammeStatus,
    recovery::v1::RecoveryActionKind,
    recovery::v1::RecoveryActionStatus,
    recovery::v1::RecoveryOutcome,
    recovery::v1::ReopenCause,
    recovery::v1::ServiceProblemOrigin,
    recovery::v1::ServiceProblemStatus,
    recovery::v1::Transition,
);

impl recovery::v1::CaseStatus {
    /// The TM Forum TMF621 trouble-ticket state of a case status, one to one as the contract
    /// says: acknowledged, inProgress, pending, held, resolved, closed or cancelled.
    pub fn tmf621_status(self) -> &'static str {
        use recovery::v1::CaseStatus as S;
        match self {
            S::AwaitingDispatch | S::Dispatched => "acknowledged",
            S::Accepted | S::InProgress => "inProgress",
            S::Pending => "pending",
            S::Held => "held",
            S::Resolved | S::CallbackDone => "resolved",
            S::Closed => "closed",
            S::Cancelled => "cancelled",
            S::Unspecified => "",
        }
    }
}

impl recovery::v1::ServiceProblemStatus {
    /// Every status a problem can be in, in lifecycle order.
    pub const ALL: [Self; 9] = [
        Self::Submitted,
        Self::Acknowledged,
        Self::InProgress,
        Self::Held,
        Self::Pending,
        Self::Resolved,
        Self::Closed,
        Self::Cancelled,
        Self::Rejected,
    ];

    /// The TM Forum TMF656 service-problem state of a status, one to one as the contract says.
    pub fn tmf656_status(self) -> &'static str {
        use recovery::v1::ServiceProblemStatus as S;
        match self {
            S::Submitted | S::Unspecified => "submitted",
            S::Acknowledged => "acknowledged",
            S::InProgress => "inProgress",
            S::Held => "held",
            S::Pending => "pending",
            S::Resolved => "resolved",
            S::Closed => "closed",
            S::Cancelled => "cancelled",
            S::Rejected => "rejected",
        }
    }

    /// The status a TMF656 state names.
    pub fn from_tmf656_status(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.tmf656_status() == name)
    }
}
