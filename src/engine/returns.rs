//! Returns: claw back exactly what the returned units earned, from the order's receipt, and
//! give back the points that paid for them.
//!
//! Every amount is computed as a cumulative target from the receipt (what the units returned so
//! far should have clawed back in all) minus what earlier returns already took. So however an
//! order is returned, in one go or unit by unit, once everything is back the order has clawed
//! back exactly what it earned and given back exactly the points that paid for it.

use std::sync::Arc;

use rust_decimal::Decimal;

use crate::amount::{Money, Points, ceiling_to, floor_to};
use crate::engine::draft::Draft;
use crate::engine::purchase::check_line_count;
use crate::engine::{EvalError, check_decimal, checked};
use crate::event::{Return, ReturnLine};
use crate::id::FunderId;
use crate::ledger::{Account, Bucket, Coverage, Notice, Receipt};
use crate::program::SpentPointsPolicy;

pub(super) fn evaluate(draft: &mut Draft<'_>, event: &Return) -> Result<(), EvalError> {
    check_line_count(event.lines.len())?;
    let Some(receipt) = draft.state.order(&event.order) else {
        return Err(EvalError::UnknownOrder { order: event.order.clone(), member: event.member.clone() });
    };
    let mut receipt = Receipt::clone(receipt);
    for (index, line) in event.lines.iter().enumerate() {
        mark_returned(&mut receipt, index, line)?;
    }
    draft.settle()?;
    let decimal_places = draft.program.program.rounding.decimal_places;
    let clawbacks = claw_back_targets(&mut receipt, decimal_places)?;
    let refund = refund_targets(&mut receipt, decimal_places)?;
    give_back_points_paid(draft, &mut receipt, refund)?;
    // Each funder first takes back its own lots of this order, so one funder's clawback never
    // drains another's; only then do shortfalls reach the member's other points.
    let mut spent = Decimal::ZERO;
    let mut short = Vec::with_capacity(clawbacks.len());
    for (funder, points) in clawbacks {
        let left = claw_back_from_order(draft, &receipt, &funder, points)?;
        short.push((funder, left));
    }
    for (funder, points) in short {
        spent += claw_back_spent(draft, &funder, points)?;
    }
    if !spent.is_zero() {
        cover_spent_points(draft, spent)?;
    }
    draft.outcome.receipt = Some(Arc::new(receipt));
    Ok(())
}

/// Adds the returned units to the receipt's lines of that SKU, earliest line first.
fn mark_returned(receipt: &mut Receipt, index: usize, line: &ReturnLine) -> Result<(), EvalError> {
    let qty = check_decimal("qty", line.qty)?;
    if qty <= Decimal::ZERO {
        return Err(EvalError::InvalidQuantity { line: index, qty });
    }
    let same_sku = || receipt.lines.iter().filter(|bought| bought.sku == line.sku);
    if same_sku().next().is_none() {
        return Err(EvalError::UnknownSku { order: receipt.order.clone(), sku: line.sku.clone() });
    }
    let returnable: Decimal = same_sku().map(|bought| bought.qty - bought.returned_qty).sum();
    if qty > returnable {
        let (order, sku) = (receipt.order.clone(), line.sku.clone());
        return Err(EvalError::ReturnExceedsPurchase { order, sku, requested: qty, returnable });
    }
    let mut left = qty;
    for bought in receipt.lines.iter_mut().filter(|bought| bought.sku == line.sku) {
        let taken = left.min(bought.qty - bought.returned_qty);
        bought.returned_qty += taken;
        left -= taken;
    }
    Ok(())
}

/// Moves every earning to its cumulative clawback target and returns the new clawbacks by
/// funder, in the receipt's order. The target rounds up (a partial return never leaves the
/// member a fraction more than buying fewer units would have earned), and is the whole earning
/// once its rule's order minimum is no longer met by what the member keeps.
fn claw_back_targets(receipt: &mut Receipt, decimal_places: u32) -> Result<Vec<(FunderId, Decimal)>, EvalError> {
    let kept_total = receipt.lines.iter().filter(|line| line.eligible).try_fold(Decimal::ZERO, |sum, line| {
        let kept_value = checked(line.value.value().checked_mul(line.qty - line.returned_qty))?;
        checked(sum.checked_add(checked(kept_value.checked_div(line.qty))?))
    })?;
    let mut by_funder: Vec<(FunderId, Decimal)> = Vec::new();
    for earning in &mut receipt.earnings {
        let line = &receipt.lines[earning.line as usize];
        let below_minimum = earning.min_order_total.is_some_and(|minimum: Money| kept_total < minimum.value());
        let target = if below_minimum || line.returned_qty == line.qty {
            earning.points
        } else {
            let returned_points = checked(earning.points.checked_mul(line.returned_qty))?;
            ceiling_to(checked(returned_points.checked_div(line.qty))?, decimal_places).min(earning.points)
        };
        assert!(target >= earning.clawed_back, "clawback targets only grow");
        let delta = target - earning.clawed_back;
        earning.clawed_back = target;
        match by_funder.iter_mut().find(|(funder, _)| *funder == earning.funder) {
            Some((_, points)) => *points += delta,
            None => by_funder.push((earning.funder.clone(), delta)),
        }
    }
    Ok(by_funder)
}

/// Moves every line to its cumulative target of points paid given back (rounded down) and
/// returns how many points this return gives back.
fn refund_targets(receipt: &mut Receipt, decimal_places: u32) -> Result<Decimal, EvalError> {
    let mut refund = Decimal::ZERO;
    for line in &mut receipt.lines {
        let returned_paid = checked(line.points_paid.checked_mul(line.returned_qty))?;
        let target = floor_to(checked(returned_paid.checked_div(line.qty))?, decimal_places).min(line.points_paid);
        assert!(target >= line.points_paid_refunded, "refund targets only grow");
        refund += target - line.points_paid_refunded;
        line.points_paid_refunded = target;
    }
    Ok(refund)
}

/// Gives back points that paid for returned units, funder by funder in the order they paid.
/// They keep the soonest expiry of the lots they came from: a return never extends a point's
/// life, and points already past it go straight to expired.
fn give_back_points_paid(draft: &mut Draft<'_>, receipt: &mut Receipt, points: Decimal) -> Result<(), EvalError> {
    let mut left = points;
    for paid in &mut receipt.paid_with {
        let given = left.min(paid.points - paid.refunded);
        if given.is_zero() {
            continue;
        }
        paid.refunded += given;
        left -= given;
        if paid.expires_at.is_some_and(|expires_at| expires_at <= draft.at) {
            draft.post(Account::Redeemed, Account::Expired, given, None)?;
            continue;
        }
        let id = draft.open_lot(paid.funder.clone(), Some(receipt.order.clone()), draft.at, paid.expires_at);
        draft.post(Account::Redeemed, Account::Available, given, Some(id))?;
        draft.repay_debt(id)?;
    }
    assert!(left.is_zero(), "refunds never exceed the points paid");
    Ok(())
}

/// Claws up to `points` back to `funder` from the order's own lots of that funder: what they
/// hold (pending or available), then what expired of them. Returns what is left to claw back:
/// what the member spent.
fn claw_back_from_order(
    draft: &mut Draft<'_>,
    receipt: &Receipt,
    funder: &FunderId,
    points: Decimal,
) -> Result<Decimal, EvalError> {
    let mut left = points;
    for id in receipt.lots() {
        let Some(lot) = draft.lot(id).filter(|lot| lot.funder == *funder) else { continue };
        let from = match lot.bucket {
            Bucket::Pending => Account::Pending,
            Bucket::Available => Account::Available,
        };
        let (held, expired) = (lot.amount_points, lot.expired_points);
        let taken = left.min(held);
        draft.post(from, Account::Funder(funder.clone()), taken, Some(id))?;
        // Points that expired unused were never the member's gain: they come back from the
        // expired account, not out of the member's pocket.
        let unexpired = (left - taken).min(expired);
        draft.post(Account::Expired, Account::Funder(funder.clone()), unexpired, Some(id))?;
        left -= taken + unexpired;
    }
    Ok(left)
}

/// Covers `points` that the order's lots no longer hold (the member spent them) by the
/// program's policy. A negative balance or stopping at zero first takes the member's other
/// available points, since owing points while holding some is the same as paying with them;
/// deducting from the refund recovers the points' value in money and leaves the member's other
/// points alone. Returns the points that the member's points did not cover.
fn claw_back_spent(draft: &mut Draft<'_>, funder: &FunderId, points: Decimal) -> Result<Decimal, EvalError> {
    let to = Account::Funder(funder.clone());
    let policy = draft.program.program.returns.when_points_spent;
    let left = match policy {
        SpentPointsPolicy::DeductFromRefund => points,
        SpentPointsPolicy::NegativeBalance | SpentPointsPolicy::StopAtZero => {
            draft.take_available(points, &to, |_, _| {})?
        }
    };
    match policy {
        SpentPointsPolicy::NegativeBalance => draft.post(Account::Debt, to, left, None)?,
        SpentPointsPolicy::DeductFromRefund => draft.post(Account::RefundWithheld, to, left, None)?,
        SpentPointsPolicy::StopAtZero => {}
    }
    Ok(left)
}

/// Tells the host how the program's policy covered spent points, and what money to withhold.
fn cover_spent_points(draft: &mut Draft<'_>, spent: Decimal) -> Result<(), EvalError> {
    let program = &draft.program.program;
    let covered_by = match program.returns.when_points_spent {
        SpentPointsPolicy::NegativeBalance => Coverage::Debt,
        SpentPointsPolicy::StopAtZero => Coverage::Forgiven,
        SpentPointsPolicy::DeductFromRefund => {
            let redemption = program.redemption.as_ref().expect("compile requires redemption for deduct_from_refund");
            let money = checked(spent.checked_mul(redemption.point_value.value()))?;
            let mut money = ceiling_to(money, program.money_decimal_places);
            money.rescale(program.money_decimal_places);
            draft.outcome.refund_withheld = Money::new(money);
            Coverage::RefundWithheld
        }
    };
    draft.outcome.notices.push(Notice::SpentPointsClawedBack { points: Points::new(spent), covered_by });
    Ok(())
}
