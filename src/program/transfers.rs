//! Transfers: members give available points to another member.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::amount::Points;
use crate::program::CompileError;

/// Whether members may give points to each other with a `transfer` event (to a family member,
/// a friend), and how many at a time.
///
/// Transferred points leave the sender's available lots as a redemption does (soonest-expiring
/// first) and arrive in the recipient's state through a follow-up event (`receive_transfer`,
/// in the sender's [`Outcome::follow_ups`](crate::Outcome::follow_ups)). They keep their funders,
/// who stay liable for them, and their expiry: they arrive as one lot per funder and expiry
/// time, so a transfer never resets or shortens an expiry (under an expiry after inactivity,
/// points have no expiry of their own and live as long as their holder stays active). A later
/// return of the order that earned them treats them as spent points; under `stop_at_zero`,
/// points a member receives settle what the program forgave the member first, up to the net
/// points the member has given away (sent less received), so giving points away before a
/// return and getting them back after it gains nothing, and a member who never gave points
/// away keeps every gift. Neither sending nor
/// receiving is activity for an expiry after inactivity, and the redemption's minimum balance
/// does not apply.
///
/// ```json
/// {"min_points": "100", "max_points": "50000"}
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfers {
    /// The fewest points one transfer may give; zero (the default) for any positive amount.
    #[serde(default)]
    pub min_points: Points,
    /// The most points one transfer may give; no limit when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_points: Option<Points>,
}

impl Transfers {
    pub(crate) fn validate(&self, decimal_places: u32) -> Result<(), CompileError> {
        let finer = |points: Decimal| points.normalize().scale() > decimal_places;
        let min_points = self.min_points.value();
        if min_points < Decimal::ZERO || finer(min_points) {
            let message = "must not be negative nor finer than the program's points (its rounding's places)";
            return Err(CompileError::new("transfers.min_points", message));
        }
        if let Some(max_points) = self.max_points.map(Points::value) {
            if max_points <= Decimal::ZERO || finer(max_points) || max_points < min_points {
                let message = "must be positive, no finer than the program's points and at least min_points";
                return Err(CompileError::new("transfers.max_points", message));
            }
        }
        Ok(())
    }
}

/// The most lots one transfer may carry: one per funder and expiry time of the points it takes.
pub const MAX_LOTS_PER_TRANSFER: usize = 1_000;
