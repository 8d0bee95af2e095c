//! Donations: members give available points to a cause the program lists.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::amount::Points;
use crate::id::Tag;
use crate::program::{CompileError, check_listed_once};

/// The most causes a program may list.
pub const MAX_CAUSES: usize = 1_000;

/// The causes members may give points to with a `donate` event, and the smallest gift.
///
/// Donated points leave the member's available lots as a redemption does (soonest-expiring
/// first) and go to the `donated:CAUSE` account; the program's owner honours them, so points
/// a partner paid for settle from that partner to the owner. The redemption section's minimum
/// balance does not apply: a program may let members give what they could not spend.
///
/// ```json
/// {"causes": ["red-cross", "reforestation"], "min_points": "100"}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Donations {
    /// The causes, each listed once.
    pub causes: Vec<Tag>,
    /// The fewest points one donation may give; zero (the default) for any positive amount.
    #[serde(default)]
    pub min_points: Points,
}

impl Donations {
    pub(crate) fn validate(&self, decimal_places: u32) -> Result<(), CompileError> {
        check_listed_once("donations.causes", &self.causes, MAX_CAUSES, "causes")?;
        let min_points = self.min_points.value();
        if min_points < Decimal::ZERO || min_points.normalize().scale() > decimal_places {
            let message = "must not be negative nor finer than the program's points (its rounding's places)";
            return Err(CompileError::new("donations.min_points", message));
        }
        Ok(())
    }

    /// Whether members may give to `cause`.
    pub(crate) fn accepts(&self, cause: &Tag) -> bool {
        self.causes.contains(cause)
    }
}
