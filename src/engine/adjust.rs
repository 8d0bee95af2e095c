//! Manual adjustments: points a back office credits or takes back.

use rust_decimal::Decimal;

use crate::engine::EvalError;
use crate::engine::draft::Draft;
use crate::engine::redeem::{check_available, check_points, spend};
use crate::event::Adjust;
use crate::ledger::Account;

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
    let funder = adjustment.funder.clone().unwrap_or_else(|| program.owner.clone());
    draft.settle()?;
    if points.is_sign_positive() {
        let at = draft.at;
        return draft.credit_points(&[(funder, Decimal::ONE)], magnitude, at);
    }
    // Taken back only from what is available: a correction never leaves the member owing.
    check_available(draft, magnitude)?;
    spend(draft, magnitude, &Account::Funder(funder.clone()), &funder)
}
