//! Manual adjustments: points a host's back office credits or takes back, for a listed reason.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::amount::Points;
use crate::id::Tag;
use crate::program::{CompileError, check_listed_once};

/// The most adjustment reasons a program may list.
pub const MAX_ADJUSTMENT_REASONS: usize = 100;

/// The reasons a host may give for an `adjust` event (goodwill after a complaint, a correction),
/// and the most points one adjustment may move either way.
///
/// A positive adjustment credits available points at once from a funder (the program's owner
/// unless the event names one), which repay debt first and expire as the program says; a
/// negative one takes available points back (only the named funder's, if the event names one),
/// soonest-expiring first, each to the funder that paid for it; one for more than is available
/// is refused. Taken-back points leave their lots as spent points do: a later return of the
/// order that earned them claws them back again, under the program's policy.
///
/// ```json
/// {"reasons": ["goodwill", "correction"], "max_points": "5000"}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adjustments {
    /// The reasons, each listed once.
    pub reasons: Vec<Tag>,
    /// The most points one adjustment may credit or take back: a whole number of the
    /// program's points.
    pub max_points: Points,
}

impl Adjustments {
    pub(crate) fn validate(&self, decimal_places: u32) -> Result<(), CompileError> {
        check_listed_once("adjustments.reasons", &self.reasons, MAX_ADJUSTMENT_REASONS, "reasons")?;
        let most = self.max_points.value();
        if most <= Decimal::ZERO || most.normalize().scale() > decimal_places {
            let message = format!("must be a positive whole number of points at {decimal_places} decimal places");
            return Err(CompileError::new("adjustments.max_points", message));
        }
        Ok(())
    }
}
