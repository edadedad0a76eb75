//! The lifecycle of a case as data: which transition is legal from which status, where it leads,
//! which TMF621 trouble-ticket state each status is, and who may ask for each transition.
//!
//! Dispatch, resolution, callbacks and transfers have RPCs of their own because they carry more
//! than a reason; they follow the same table through [`Step`].

use csm_kit::{Principal, Role};
use csm_proto::recovery::v1::{CaseStatus, Transition};

use CaseStatus as S;

/// Every change a case can undergo, from an RPC, a feed event or the escalation sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Transition(Transition),
    Resolve,
    /// A resolved service problem (重大故障) resolves its linked cases with its explanation. Unlike
    /// [`Step::Resolve`] it reaches a case in any unanswered status after dispatch: the fault was
    /// repaired whether or not the case's department had taken the case up yet.
    ProblemResolved,
    Callback {
        dissatisfied: bool,
    },
    Transfer,
}

impl Step {
    /// The name kept in the audit trail and carried by CaseStatusChanged.
    pub fn action(self) -> &'static str {
        match self {
            Step::Transition(Transition::Accept) => "accept",
            Step::Transition(Transition::Start) => "start",
            Step::Transition(Transition::PendOnCustomer) => "pend_on_customer",
            Step::Transition(Transition::Hold) => "hold",
            Step::Transition(Transition::Resume) => "resume",
            Step::Transition(Transition::Close) => "close",
            Step::Transition(Transition::Cancel) => "cancel",
            Step::Transition(Transition::Reopen) => "reopen",
            Step::Transition(Transition::Unspecified) => "unspecified",
            Step::Resolve => "resolve",
            Step::ProblemResolved => "problem_resolved",
            Step::Callback { .. } => "callback",
            Step::Transfer => "transfer",
        }
    }

    /// Where this step leads from `from`, or `None` when it is not legal there.
    pub fn target(self, from: CaseStatus) -> Option<CaseStatus> {
        let working = matches!(from, S::Accepted | S::InProgress | S::Pending | S::Held);
        match self {
            Step::Transition(Transition::Accept) => (from == S::Dispatched).then_some(S::Accepted),
            Step::Transition(Transition::Start) => (from == S::Accepted).then_some(S::InProgress),
            Step::Transition(Transition::PendOnCustomer) => {
                matches!(from, S::Accepted | S::InProgress | S::Held).then_some(S::Pending)
            }
            Step::Transition(Transition::Hold) => {
                matches!(from, S::Accepted | S::InProgress | S::Pending).then_some(S::Held)
            }
            Step::Transition(Transition::Resume) => matches!(from, S::Pending | S::Held).then_some(S::InProgress),
            Step::Transition(Transition::Close) => (from == S::CallbackDone).then_some(S::Closed),
            Step::Transition(Transition::Cancel) => {
                (working || matches!(from, S::AwaitingDispatch | S::Dispatched)).then_some(S::Cancelled)
            }
            Step::Transition(Transition::Reopen) => {
                matches!(from, S::Resolved | S::CallbackDone | S::Closed).then_some(S::InProgress)
            }
            Step::Transition(Transition::Unspecified) => None,
            Step::Resolve => matches!(from, S::Accepted | S::InProgress).then_some(S::Resolved),
            Step::ProblemResolved => (working || from == S::Dispatched).then_some(S::Resolved),
            Step::Callback { dissatisfied: false } => (from == S::Resolved).then_some(S::CallbackDone),
            Step::Callback { dissatisfied: true } => (from == S::Resolved).then_some(S::InProgress),
            Step::Transfer => (working || from == S::Dispatched).then_some(S::Dispatched),
        }
    }

    /// Whether `caller` may take this step on a case dispatched to `department` and owned by
    /// `owner`. Administrators may take every step.
    pub fn allowed(self, caller: &Principal, department: &str, owner: Option<&str>) -> bool {
        if caller.has(Role::Administrator) {
            return true;
        }
        let in_department =
            |name: Option<&str>| caller.has(Role::Department) && name.is_some() && caller.department.as_deref() == name;
        let front_line = caller.has(Role::Agent) || caller.has(Role::Supervisor);
        match self {
            // First responsibility: the department the case was dispatched to takes it.
            Step::Transition(Transition::Accept) => in_department(Some(department)),
            Step::Transition(
                Transition::Start | Transition::PendOnCustomer | Transition::Hold | Transition::Resume,
            )
            | Step::Resolve => in_department(owner),
            Step::Transition(Transition::Close) => front_line || in_department(owner),
            Step::Transition(Transition::Cancel | Transition::Reopen) => front_line,
            Step::Transition(Transition::Unspecified) => false,
            // Checked on the problem: whoever may resolve it resolves its cases.
            Step::ProblemResolved => true,
            Step::Callback { .. } => caller.has(Role::Agent) || caller.has(Role::Service),
            // Only a supervisor moves a case between departments; the owner cannot hand it back.
            Step::Transfer => caller.has(Role::Supervisor),
        }
    }
}

/// The TMF621 trouble-ticket state of a status.
pub fn tmf621_status(status: CaseStatus) -> &'static str {
    status.tmf621_status()
}

/// Statuses in which the deadline clock runs and the case can become overdue.
pub fn clock_running(status: CaseStatus) -> bool {
    matches!(status, S::Dispatched | S::Accepted | S::InProgress | S::Held)
}

pub const CLOCK_RUNNING: [CaseStatus; 4] = [S::Dispatched, S::Accepted, S::InProgress, S::Held];

/// Statuses in which the customer still waits for the operator's answer: the regulator's clock
/// runs (even while pending on the customer, unlike the department's deadline).
pub const UNANSWERED: [CaseStatus; 6] =
    [S::AwaitingDispatch, S::Dispatched, S::Accepted, S::InProgress, S::Pending, S::Held];

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [CaseStatus; 10] = [
        S::AwaitingDispatch,
        S::Dispatched,
        S::Accepted,
        S::InProgress,
        S::Pending,
        S::Held,
        S::Resolved,
        S::CallbackDone,
        S::Closed,
        S::Cancelled,
    ];

    #[test]
    fn cancelled_is_final_and_closed_only_reopens() {
        let steps = [
            Step::Transition(Transition::Accept),
            Step::Transition(Transition::Start),
            Step::Transition(Transition::PendOnCustomer),
            Step::Transition(Transition::Hold),
            Step::Transition(Transition::Resume),
            Step::Transition(Transition::Close),
            Step::Transition(Transition::Cancel),
            Step::Transition(Transition::Reopen),
            Step::Resolve,
            Step::ProblemResolved,
            Step::Callback { dissatisfied: false },
            Step::Callback { dissatisfied: true },
            Step::Transfer,
        ];
        for step in steps {
            assert_eq!(step.target(S::Cancelled), None, "{step:?} from cancelled");
            let from_closed = step.target(S::Closed);
            assert!(from_closed.is_none() || step == Step::Transition(Transition::Reopen), "{step:?} from closed");
        }
    }

    #[test]
    fn every_status_has_a_tmf621_state() {
        for status in ALL {
            assert!(!tmf621_status(status).is_empty(), "{status:?}");
        }
    }

    #[test]
    fn only_a_supervisor_transfers() {
        let caller = |roles: Vec<Role>, department: Option<&str>| Principal {
            subject: "x".into(),
            roles,
            department: department.map(String::from),
        };
        let owner = caller(vec![Role::Department], Some("billing"));
        assert!(!Step::Transfer.allowed(&owner, "billing", Some("billing")));
        assert!(!Step::Transfer.allowed(&caller(vec![Role::Agent], None), "billing", Some("billing")));
        assert!(Step::Transfer.allowed(&caller(vec![Role::Supervisor], None), "billing", Some("billing")));
        assert!(Step::Resolve.allowed(&owner, "billing", Some("billing")));
        assert!(!Step::Resolve.allowed(&caller(vec![Role::Department], Some("network")), "billing", Some("billing")));
    }
}
