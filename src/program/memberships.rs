//! Paid membership plans: a member buys a plan for some months, and rules for its segment apply
//! while it runs.

use serde::{Deserialize, Serialize};

use crate::id::Tag;
use crate::program::CompileError;

/// The most membership plans a program may have.
pub const MAX_MEMBERSHIP_PLANS: usize = 100;

/// The longest a plan may run for one payment, in months.
pub const MAX_MEMBERSHIP_MONTHS: u32 = 120;

/// A paid membership plan ("Plus: 12 months"). The host sells it and sends a `buy_membership`
/// event; while it runs, the member belongs to the segment named by the plan's `id`, so that
/// earn rules, cashback rules and stamp cards with `"segments": [ID]` give its benefits. The
/// fee is the host's business: the engine keeps points, not payments.
///
/// ```json
/// {"id": "plus", "months": 12}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipPlan {
    /// The plan, and the segment its members belong to while it runs.
    pub id: Tag,
    /// How many calendar months one payment buys (1 to [`MAX_MEMBERSHIP_MONTHS`]).
    pub months: u32,
}

pub(crate) fn validate_plans(plans: &[MembershipPlan]) -> Result<(), CompileError> {
    if plans.len() > MAX_MEMBERSHIP_PLANS {
        let message = format!("has {} plans, more than the limit of {MAX_MEMBERSHIP_PLANS}", plans.len());
        return Err(CompileError::new("memberships", message));
    }
    for (position, plan) in plans.iter().enumerate() {
        let path = format!("memberships[{position}]");
        if plans[..position].iter().any(|earlier| earlier.id == plan.id) {
            return Err(CompileError::new(format!("{path}.id"), format!("`{}` is listed twice", plan.id)));
        }
        if plan.months == 0 || plan.months > MAX_MEMBERSHIP_MONTHS {
            let message = format!("must be between 1 and {MAX_MEMBERSHIP_MONTHS}, not {}", plan.months);
            return Err(CompileError::new(format!("{path}.months"), message));
        }
    }
    Ok(())
}
