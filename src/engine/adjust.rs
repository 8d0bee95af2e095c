//! Manual adjustments: points a back office credits or takes back.

use rust_decimal::Decimal;

use crate::amount::Points;
use crate::engine::EvalError;
use crate::engine::draft::Draft;
use crate::engine::redeem::check_points;
use crate::event::Adjust;
use crate::ledger::{Account, Asset, Lot};

pub(super) fn evaluate(draft: &mut Draft<'_>, adjustment: &Adjust) -> Result<(), EvalError> {
    let program = &draft.program.program;
    let listed = |reason| program.adjustments.as_ref().filter(|adjustments| adjustments.reasons.contains(reason));
    let Some(adjustments) = listed(&adjustment.reason) else {
        return Err(EvalError::UnknownReason { reason: adjustment.reason.clone() });
    };
    let points = adjustment.points.value();
    if points.is_zero() {
        return Err(EvalError::InvalidPoints { points: adjustment.points });
    }
    let magnitude = check_points(program, points.abs())?;
    if magnitude > adjustments.max_points.value() {
        return Err(EvalError::AdjustmentTooLarge { points: adjustment.points, max_points: adjustments.max_points });
    }
    draft.settle()?;
    if points.is_sign_positive() {
        let funder = adjustment.funder.clone().unwrap_or_else(|| draft.program.program.owner.clone());
        let at = draft.at;
        return draft.credit_points(&[(funder, Decimal::ONE)], magnitude, at);
    }
    // Each point goes back to whoever paid for it, as a clawback's do, so that no funder is
    // settled with for points it never honoured; and only from what is available, so that a
    // correction never leaves the member owing.
    let only = adjustment.funder.as_ref();
    let back_to_its_funder =
        |lot: &Lot| only.is_none_or(|only| lot.funder == *only).then(|| Account::Funder(lot.funder.clone()));
    let short = draft.take_available(&Asset::Points, magnitude, back_to_its_funder, |_, _| {})?;
    if !short.is_zero() {
        let available = Points::new(magnitude - short);
        return Err(EvalError::InsufficientPoints { requested: Points::new(magnitude), available });
    }
    Ok(())
}
