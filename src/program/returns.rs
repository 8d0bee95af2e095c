//! Returns: vesting and what happens when returned points were already spent.

use serde::{Deserialize, Serialize};

use crate::program::CompileError;

/// The longest vesting period accepted, in days.
pub const MAX_VESTING_DAYS: u32 = 3_650;

/// How a program protects itself from returns.
///
/// ```json
/// {"vesting_days": 15, "when_points_spent": "deduct_from_refund"}
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Returns {
    /// Points stay pending this many days after the purchase, then become available. Set it
    /// longer than the return window and no returned order's points can ever be spent.
    #[serde(default)]
    pub vesting_days: u32,
    /// What a return does when the points it claws back were already spent.
    #[serde(default)]
    pub when_points_spent: SpentPointsPolicy,
}

/// What a return does when the points it must claw back were already spent.
///
/// A return first takes the points from the order's own lots (pending or available, each
/// funder from its own lot). What those lots no longer hold, the member spent; the policy
/// decides who bears it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpentPointsPolicy {
    /// The member's other available points cover them, and the member owes the rest: a
    /// negative balance (the `debt` account), repaid first from points that become available
    /// later. The default, because it needs nothing from the host.
    #[default]
    NegativeBalance,
    /// The host withholds their value (at the program's point value, rounded up to the
    /// currency's minor unit once per order) from the refund; the outcome says how much money.
    /// The member's other points are left alone. A refund too small to cover them all (the
    /// returned units' value less the points given back for them) covers the points it can pay
    /// for (at the program's places), and withholds what those are worth; the member owes the
    /// rest.
    DeductFromRefund,
    /// The member's other available points cover them down to zero; the program forgives the
    /// rest (the `forgiven` account), unless a later return gives back points that paid for
    /// something: those settle the forgiven points first.
    StopAtZero,
}

impl Returns {
    pub(crate) fn validate(&self) -> Result<(), CompileError> {
        if self.vesting_days > MAX_VESTING_DAYS {
            return Err(CompileError::new(
                "returns.vesting_days",
                format!("must be at most {MAX_VESTING_DAYS}, not {}", self.vesting_days),
            ));
        }
        Ok(())
    }
}
