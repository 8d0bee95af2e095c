//! Spending points.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::amount::{Money, Points, Ratio};
use crate::program::CompileError;

/// How members spend points.
///
/// ```json
/// {"point_value": "0.01", "min_balance": "500", "max_share_of_order": "0.5"}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redemption {
    /// What one point is worth in the program's currency when it pays for an order.
    pub point_value: Money,
    /// A member needs at least this many available points to spend any.
    #[serde(default)]
    pub min_balance: Points,
    /// The largest share of an order's value that points may pay, in (0, 1]. Capping it (at
    /// 0.5, say) limits what a member can take out before a return window closes.
    #[serde(default = "whole_order")]
    pub max_share_of_order: Ratio,
}

fn whole_order() -> Ratio {
    Ratio::new(Decimal::ONE)
}

impl Redemption {
    pub(crate) fn validate(&self) -> Result<(), CompileError> {
        if self.point_value.value() <= Decimal::ZERO {
            return Err(CompileError::new("redemption.point_value", "must be positive"));
        }
        if self.min_balance.value() < Decimal::ZERO {
            return Err(CompileError::new("redemption.min_balance", "must not be negative"));
        }
        let share = self.max_share_of_order.value();
        if share <= Decimal::ZERO || share > Decimal::ONE {
            return Err(CompileError::new("redemption.max_share_of_order", "must be more than 0 and at most 1"));
        }
        Ok(())
    }
}
