//! The lifecycle of a service problem as data, one status per TMF656 state: which transition is
//! legal from which status, where it leads, and which need a reason. Resolution has an RPC of its
//! own because it carries the explanation its linked cases are resolved with.

use csm_proto::recovery::v1::{ServiceProblemStatus, ServiceProblemTransition};

use ServiceProblemStatus as S;
use ServiceProblemTransition as T;

/// Where `transition` leads from `from`, or `None` when it is not legal there.
pub fn target(transition: T, from: S) -> Option<S> {
    let open = matches!(from, S::Submitted | S::Acknowledged | S::InProgress | S::Held | S::Pending);
    match transition {
        T::Acknowledge => (from == S::Submitted).then_some(S::Acknowledged),
        T::Start => matches!(from, S::Submitted | S::Acknowledged | S::Held | S::Pending).then_some(S::InProgress),
        T::Hold => matches!(from, S::Acknowledged | S::InProgress | S::Pending).then_some(S::Held),
        T::Pend => matches!(from, S::Acknowledged | S::InProgress | S::Held).then_some(S::Pending),
        T::Close => (from == S::Resolved).then_some(S::Closed),
        T::Cancel => open.then_some(S::Cancelled),
        T::Reject => (from == S::Submitted).then_some(S::Rejected),
        T::Unspecified => None,
    }
}

/// Where resolution leads from `from`: any status before RESOLVED.
pub fn resolvable(from: S) -> bool {
    matches!(from, S::Submitted | S::Acknowledged | S::InProgress | S::Held | S::Pending)
}

/// Whether `transition` must say why.
pub fn needs_reason(transition: T) -> bool {
    matches!(transition, T::Hold | T::Pend | T::Cancel | T::Reject)
}

/// Whether the problem's links are released when it ends this way.
pub fn releases_links(to: S) -> bool {
    matches!(to, S::Cancelled | S::Rejected)
}

/// The name kept in ServiceProblemStatusChanged.
pub fn action(transition: T) -> &'static str {
    match transition {
        T::Acknowledge => "acknowledge",
        T::Start => "start",
        T::Hold => "hold",
        T::Pend => "pend",
        T::Close => "close",
        T::Cancel => "cancel",
        T::Reject => "reject",
        T::Unspecified => "unspecified",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [S; 9] = [
        S::Submitted,
        S::Acknowledged,
        S::InProgress,
        S::Held,
        S::Pending,
        S::Resolved,
        S::Closed,
        S::Cancelled,
        S::Rejected,
    ];
    const STEPS: [T; 7] = [T::Acknowledge, T::Start, T::Hold, T::Pend, T::Close, T::Cancel, T::Reject];

    #[test]
    fn closed_cancelled_and_rejected_are_final_and_resolved_only_closes() {
        for step in STEPS {
            for end in [S::Closed, S::Cancelled, S::Rejected] {
                assert_eq!(target(step, end), None, "{step:?} from {end:?}");
            }
            assert_eq!(target(step, S::Resolved).is_some(), step == T::Close, "{step:?} from resolved");
        }
        assert!(ALL.iter().filter(|s| resolvable(**s)).count() == 5);
    }

    #[test]
    fn reject_only_from_submitted_and_cancel_from_any_open_status() {
        for from in ALL {
            assert_eq!(target(T::Reject, from).is_some(), from == S::Submitted, "{from:?}");
            assert_eq!(target(T::Cancel, from).is_some(), resolvable(from), "{from:?}");
        }
    }
}
