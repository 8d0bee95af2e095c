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
/// Before any policy applies, the return takes the points from the order's own lots (pending
/// or available), then from the member's other available points, soonest-expiring first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpentPointsPolicy {
    /// The member owes the points: a negative balance, repaid first from points that become
    /// available later. The default, because it needs nothing from the host.
    #[default]
    NegativeBalance,
    /// The host withholds their value (at the program's point value) from the refund; the
    /// outcome says how much money.
    DeductFromRefund,
    /// The program forgives them: the member keeps what was spent.
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
