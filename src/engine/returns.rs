//! Returns: claw back exactly what the returned units earned, from the order's receipt, and
//! give back the points that paid for them.
//!
//! Every amount is computed as a cumulative target from the receipt (what the units returned so
//! far should have clawed back in all) minus what earlier returns already took. So however an
//! order is returned, in one go or unit by unit, once everything is back the order has clawed
//! back exactly what it earned and given back exactly the points that paid for it.

use std::sync::Arc;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::amount::{Money, Points, ceiling_to, floor_to, split_exact};
use crate::engine::draft::Draft;
use crate::engine::purchase::check_line_count;
use crate::engine::{EvalError, check_decimal, checked, redeem, stamps, tiers};
use crate::event::{Return, ReturnLine};
use crate::id::{FunderId, OrderId, Tag};
use crate::ledger::{Account, Asset, Bucket, Coverage, Earning, LinePayment, Lot, LotId, Notice, Receipt, ReceiptLine};
use crate::program::SpentPointsPolicy;

pub(super) fn evaluate(draft: &mut Draft<'_>, event: &Return) -> Result<(), EvalError> {
    check_line_count(event.lines.len())?;
    let Some(receipt) = draft.state.order(&event.order) else {
        return Err(EvalError::UnknownOrder { order: event.order.clone(), member: event.member.clone() });
    };
    let bought = receipt;
    let mut receipt = Receipt::clone(bought);
    for (index, line) in event.lines.iter().enumerate() {
        mark_returned(&mut receipt, index, line)?;
    }
    draft.settle()?;
    let program = &draft.program.program;
    let (point_places, money_places) = (program.rounding.decimal_places, program.money_decimal_places);
    let kept_total = kept_eligible_total(&receipt)?;
    let [points_back, cashback_back] = claw_back_targets(&mut receipt, kept_total, point_places, money_places)?;
    let [points_refund, cashback_refund] = match receipt.payment.as_deref_mut() {
        Some(payment) => [
            refund_targets(&receipt.lines, &mut payment.lines, point_places, |share| {
                (share.points, &mut share.points_refunded)
            })?,
            refund_targets(&receipt.lines, &mut payment.lines, money_places, |share| {
                (share.cashback, &mut share.cashback_refunded)
            })?,
        ],
        None => [Decimal::ZERO; 2],
    };
    give_back_paid(draft, &mut receipt, &Asset::Points, points_refund)?;
    give_back_paid(draft, &mut receipt, &Asset::Cashback, cashback_refund)?;
    let refund_due = match draft.program.program.returns.when_points_spent {
        SpentPointsPolicy::DeductFromRefund => {
            money_refund_due(draft, bought, &receipt, points_refund, cashback_refund)?
        }
        _ => Decimal::ZERO,
    };
    claw_back(draft, &mut receipt, &Asset::Points, points_back, refund_due)?;
    claw_back(draft, &mut receipt, &Asset::Cashback, cashback_back, refund_due)?;
    stamps::take_back(draft, &mut receipt, kept_total)?;
    for (order, tier) in tiers::record_order(draft, &receipt)? {
        revise_tier(draft, &order, tier)?;
    }
    draft.outcome.receipt = Some(Arc::new(receipt));
    Ok(())
}

/// Takes `clawbacks` of `asset` back from the order's lots, then covers what the member
/// already spent by the program's policy, withholding at most what is left of `refund_due`
/// from the refund.
fn claw_back(
    draft: &mut Draft<'_>,
    receipt: &mut Receipt,
    asset: &Asset,
    clawbacks: Vec<(FunderId, Decimal)>,
    refund_due: Decimal,
) -> Result<(), EvalError> {
    if clawbacks.is_empty() {
        return Ok(());
    }
    // Each funder first takes back its own lots of this order, so one funder's clawback never
    // drains another's; only then do shortfalls reach the member's other points.
    let mut spent = Vec::with_capacity(clawbacks.len());
    for (funder, amount) in clawbacks {
        let left = claw_back_from_order(draft, receipt, asset, &funder, amount)?;
        spent.push((funder, left));
    }
    let room = (refund_due - draft.outcome.refund_withheld.value()).max(Decimal::ZERO);
    let program = &draft.program.program;
    match (program.returns.when_points_spent, asset, &program.redemption) {
        (SpentPointsPolicy::DeductFromRefund, Asset::Cashback, _) => withhold_cashback(draft, &spent, room),
        (SpentPointsPolicy::DeductFromRefund, _, Some(redemption)) => {
            let point_value = redemption.point_value.value();
            deduct_from_refund(draft, receipt, &spent, room, point_value)
        }
        // Other policies, and a program without a point value to price spent points at (one
        // whose points are only donated or taken back compiles only under other policies).
        _ => cover_from_available(draft, asset, &spent),
    }
}

/// A return took away the tier level another order was placed at: what that order earned
/// because of the level goes back in full, with nothing withheld from this refund.
fn revise_tier(draft: &mut Draft<'_>, order: &OrderId, tier: Tag) -> Result<(), EvalError> {
    let Some(placed) = draft.state.order(order) else { return Ok(()) };
    let mut receipt = Receipt::clone(placed);
    receipt.tier = Some(tier);
    let program = &draft.program.program;
    let (point_places, money_places) = (program.rounding.decimal_places, program.money_decimal_places);
    let kept_total = kept_eligible_total(&receipt)?;
    let [points_back, cashback_back] = claw_back_targets(&mut receipt, kept_total, point_places, money_places)?;
    claw_back(draft, &mut receipt, &Asset::Points, points_back, Decimal::ZERO)?;
    claw_back(draft, &mut receipt, &Asset::Cashback, cashback_back, Decimal::ZERO)?;
    draft.outcome.revised.push(Arc::new(receipt));
    Ok(())
}

/// Adds the returned units to the receipt: to the line the return names, or else to the lines
/// of that SKU that earned the most points per unit first, so that a member can never choose
/// which of two lines of one SKU a return takes back.
fn mark_returned(receipt: &mut Receipt, index: usize, line: &ReturnLine) -> Result<(), EvalError> {
    let qty = check_decimal(Some(index), "qty", line.qty)?;
    if qty <= Decimal::ZERO {
        return Err(EvalError::InvalidQuantity { line: index, qty });
    }
    let candidates = lines_to_return(receipt, line)?;
    let returnable: Decimal = candidates.iter().map(|&at| receipt.lines[at].qty - receipt.lines[at].returned_qty).sum();
    if qty > returnable {
        let (order, sku) = (receipt.order.clone(), line.sku.clone());
        return Err(EvalError::ReturnExceedsPurchase { order, sku, requested: qty, returnable });
    }
    let mut left = qty;
    for at in candidates {
        let bought = &mut receipt.lines[at];
        let taken = left.min(bought.qty - bought.returned_qty);
        bought.returned_qty += taken;
        left -= taken;
    }
    Ok(())
}

/// The receipt lines a return line may take units from, in the order it takes them.
fn lines_to_return(receipt: &Receipt, line: &ReturnLine) -> Result<Vec<usize>, EvalError> {
    let order = &receipt.order;
    if let Some(at) = line.line {
        let named = receipt.lines.get(at as usize).filter(|bought| bought.sku == line.sku);
        return match named {
            Some(_) => Ok(vec![at as usize]),
            None => Err(EvalError::UnknownLine { order: order.clone(), line: at, sku: line.sku.clone() }),
        };
    }
    let mut candidates: Vec<(Decimal, usize)> = Vec::new();
    for (at, bought) in receipt.lines.iter().enumerate().filter(|(_, bought)| bought.sku == line.sku) {
        let earned: Decimal =
            receipt.earnings.iter().filter(|earning| earning.line as usize == at).map(|earning| earning.points).sum();
        candidates.push((checked(earned.checked_div(bought.qty))?, at));
    }
    if candidates.is_empty() {
        return Err(EvalError::UnknownSku { order: order.clone(), sku: line.sku.clone() });
    }
    // Most points per unit first; the stable sort keeps earlier lines first among equals.
    candidates.sort_by_key(|(per_unit, _)| std::cmp::Reverse(*per_unit));
    Ok(candidates.into_iter().map(|(_, at)| at).collect())
}

/// Claws back what the returned units earned and returns the new clawbacks by funder, in the
/// receipt's order.
///
/// Each line has one cumulative target: what its units returned so far earned, rounded up, so
/// that the kept units keep their share of what the line earned, rounded down; all of it once
/// every unit is back. What the target adds is spread over the line's earnings in
/// proportion to what each has left, so they reach their totals together and never overshoot.
/// An earning whose rule's order minimum the kept order no longer meets, or that needed a tier
/// level the order no longer counts as placed at, goes back whole. Points are counted at
/// `point_places`, cashback at `money_places`; the kept order is worth `kept_total`.
fn claw_back_targets(
    receipt: &mut Receipt,
    kept_total: Decimal,
    point_places: u32,
    money_places: u32,
) -> Result<[Vec<(FunderId, Decimal)>; 2], EvalError> {
    let Receipt { lines, earnings, cashback, tier, .. } = receipt;
    let points = line_targets(lines, earnings, tier.as_ref(), kept_total, point_places)?;
    Ok([points, line_targets(lines, cashback, tier.as_ref(), kept_total, money_places)?])
}

/// [`claw_back_targets`] for one kind of earnings.
fn line_targets(
    lines: &[ReceiptLine],
    all_earnings: &mut [Earning],
    tier: Option<&Tag>,
    kept_total: Decimal,
    decimal_places: u32,
) -> Result<Vec<(FunderId, Decimal)>, EvalError> {
    let mut by_funder: Vec<(FunderId, Decimal)> = Vec::new();
    for earnings in all_earnings.chunk_by_mut(|left, right| left.line == right.line) {
        let line = &lines[earnings[0].line as usize];
        let revoked: Vec<bool> = earnings.iter().map(|earning| earning.revoked(kept_total, tier)).collect();
        let deltas = line_deltas(line, earnings, &revoked, decimal_places)?;
        for (earning, delta) in earnings.iter_mut().zip(deltas) {
            earning.clawed_back += delta;
            add_to_funder(&mut by_funder, &earning.funder, delta);
        }
    }
    Ok(by_funder)
}

/// What this return claws back from each of one line's earnings: a revoked earning, all it has
/// left; the others together, what takes them to their cumulative target, spread in
/// proportion to what each has left. Where they are past it, because earlier returns spread
/// their targets over earnings revoked since, they give the difference back
/// ([`give_back_excess`]), so the line ends where one return would have taken it.
fn line_deltas(
    line: &ReceiptLine,
    earnings: &[Earning],
    revoked: &[bool],
    decimal_places: u32,
) -> Result<Vec<Decimal>, EvalError> {
    let left = |earning: &Earning| earning.points - earning.clawed_back;
    let standing = || earnings.iter().zip(revoked).filter(|(_, revoked)| !**revoked).map(|(earning, _)| earning);
    let earned: Decimal = standing().map(|earning| earning.points).sum();
    let clawed: Decimal = standing().map(|earning| earning.clawed_back).sum();
    let returned_points = checked(earned.checked_mul(line.returned_qty))?;
    let target = ceiling_to(checked(returned_points.checked_div(line.qty))?, decimal_places).min(earned);
    let standing_left = |(earning, revoked): (&Earning, &bool)| if *revoked { Decimal::ZERO } else { left(earning) };
    let mut deltas: Vec<Decimal> = earnings.iter().zip(revoked).map(standing_left).collect();
    let excess = if target >= clawed {
        checked(split_exact(target - clawed, &mut deltas, decimal_places, |left| left))?;
        Decimal::ZERO
    } else {
        deltas.fill(Decimal::ZERO);
        clawed - target
    };
    for ((delta, earning), revoked) in deltas.iter_mut().zip(earnings).zip(revoked) {
        if *revoked {
            *delta = left(earning);
        }
    }
    give_back_excess(earnings, revoked, &mut deltas, excess);
    Ok(deltas)
}

/// Gives `excess` back from the line's standing earnings, in the receipt's order, each at most
/// what it clawed back. What is left, the revoked earnings take that much less now instead,
/// and give it back with the line's last units; the line's net clawback is then what one
/// return would take. Both only as far as the earning's funder claws back on the line in this
/// return, so that no funder is owed points back: what no funder has room for stays with the
/// standing earnings (the member keeps that unit less than one return would leave).
fn give_back_excess(earnings: &[Earning], revoked: &[bool], deltas: &mut [Decimal], mut excess: Decimal) {
    if excess.is_zero() {
        return;
    }
    let standing_first =
        (0..earnings.len()).filter(|at| !revoked[*at]).chain((0..earnings.len()).filter(|at| revoked[*at]));
    for at in standing_first {
        let funder = &earnings[at].funder;
        let room: Decimal =
            (0..earnings.len()).filter(|other| earnings[*other].funder == *funder).map(|other| deltas[other]).sum();
        let most = if revoked[at] { deltas[at] } else { earnings[at].clawed_back };
        let less = excess.min(most).min(room.max(Decimal::ZERO));
        deltas[at] -= less;
        excess -= less;
    }
}

/// The value of the eligible units the member keeps, for order minimums.
fn kept_eligible_total(receipt: &Receipt) -> Result<Decimal, EvalError> {
    let eligible = receipt.lines.iter().filter(|line| line.eligible);
    value_of_units(eligible.map(|line| (line, line.qty - line.returned_qty)))
}

/// What some units of each line are worth (the line's value times the units, over its units),
/// summed. A share that does not terminate is cut at a decimal's 28 digits, so three thirds of a
/// 25.00 line add up to 24.999…9: a sum with such shares drops the digits the cuts may have
/// made wrong ([`without_doubtful_digits`]), and shares that add up to whole lines are worth
/// what the lines are.
fn value_of_units<'a>(lines: impl Iterator<Item = (&'a ReceiptLine, Decimal)>) -> Result<Decimal, EvalError> {
    let (mut total, mut shares, mut cut) = (Decimal::ZERO, 0_u32, false);
    for (line, units) in lines {
        let value = checked(line.value.value().checked_mul(units))?;
        let share = checked(value.checked_div(line.qty))?;
        cut |= fills_precision(share);
        total = checked(total.checked_add(share))?;
        shares += 1;
    }
    Ok(if cut { without_doubtful_digits(total, shares) } else { total })
}

/// Whether a quotient has all the places or digits a decimal holds, as one that does not
/// terminate has (one that does and still fills them loses no more than its doubtful digits).
fn fills_precision(quotient: Decimal) -> bool {
    quotient.scale() == Decimal::MAX_SCALE
        || quotient.mantissa().unsigned_abs() > Decimal::MAX.mantissa().unsigned_abs() / 10
}

/// Rounds a sum of `shares` shares, some cut in their last digit, half to even at the last
/// place that the cuts and the additions (each off by at most a unit of the sum's last place)
/// leave right.
fn without_doubtful_digits(sum: Decimal, shares: u32) -> Decimal {
    let doubtful_digits = (2 * shares).ilog10() + 1;
    sum.round_dp_with_strategy(sum.scale().saturating_sub(doubtful_digits), RoundingStrategy::MidpointNearestEven)
}

fn add_to_funder(by_funder: &mut Vec<(FunderId, Decimal)>, funder: &FunderId, points: Decimal) {
    match by_funder.iter_mut().find(|(listed, _)| listed == funder) {
        Some((_, total)) => *total += points,
        None => by_funder.push((funder.clone(), points)),
    }
}

/// Moves every line to its cumulative target of what `paid` (points or cashback paid, and how
/// much of it was given back) gives back, rounded down, and returns how much this return gives
/// back.
fn refund_targets(
    lines: &[ReceiptLine],
    shares: &mut [LinePayment],
    decimal_places: u32,
    paid: impl Fn(&mut LinePayment) -> (Decimal, &mut Decimal),
) -> Result<Decimal, EvalError> {
    assert_eq!(lines.len(), shares.len(), "a payment has a share for every line");
    let mut refund = Decimal::ZERO;
    for (line, share) in lines.iter().zip(shares) {
        let (qty, returned_qty) = (line.qty, line.returned_qty);
        let (paid, refunded) = paid(share);
        let target = floor_to(checked(checked(paid.checked_mul(returned_qty))?.checked_div(qty))?, decimal_places);
        // Only grows, whatever a stored receipt says was given back already.
        let target = target.min(paid).max(*refunded);
        refund += target - *refunded;
        *refunded = target;
    }
    Ok(refund)
}

/// Gives back the points (or cashback) that paid for returned units, funder by funder in the
/// order they paid. They keep the soonest expiry of the lots they came from: a return never
/// extends a point's life, and points already past it go straight to expired.
fn give_back_paid(
    draft: &mut Draft<'_>,
    receipt: &mut Receipt,
    asset: &Asset,
    amount: Decimal,
) -> Result<(), EvalError> {
    if amount.is_zero() {
        return Ok(());
    }
    let payment = receipt.payment.as_deref_mut().expect("only a payment gives a refund");
    let mut left = amount;
    for paid in payment.paid_with.iter_mut().filter(|paid| paid.asset == *asset) {
        let given = left.min(paid.points - paid.refunded);
        if given.is_zero() {
            continue;
        }
        paid.refunded += given;
        left -= given;
        // The seller gives back what it was paid for the points.
        let seller = receipt.partner.as_ref().unwrap_or(&draft.program.program.owner);
        draft.settle_between(asset, seller, &paid.funder, given)?;
        let order = Some(receipt.order.clone());
        let id = draft.open_lot(asset.clone(), paid.funder.clone(), order, draft.at, paid.expires_at, paid.earned_in);
        if paid.expires_at.is_some_and(|expires_at| expires_at <= draft.at) {
            // Kept as a lot of expired points, so that a return of the order that earned them
            // finds them there.
            draft.post_in(asset, Account::Redeemed, Account::Expired, given, Some(id))?;
            continue;
        }
        draft.post_in(asset, Account::Redeemed, Account::Available, given, Some(id))?;
        draft.repay_debt(id)?;
        draft.settle_forgiven(id)?;
    }
    assert!(left.is_zero(), "refunds never exceed the points paid");
    Ok(())
}

/// Claws up to `points` back to `funder` from the order's own lots of that funder: what they
/// hold (pending or available), then what expired of them; then the same from the lots that
/// returns gave spent points of the order back into. Returns what is left to claw back: what
/// the member spent.
fn claw_back_from_order(
    draft: &mut Draft<'_>,
    receipt: &Receipt,
    asset: &Asset,
    funder: &FunderId,
    amount: Decimal,
) -> Result<Decimal, EvalError> {
    let mut left = amount;
    for id in receipt.lots() {
        left = claw_back_from_lot(draft, id, asset, funder, left)?;
    }
    if left > Decimal::ZERO {
        for id in given_back_lots(draft, receipt) {
            left = claw_back_from_lot(draft, id, asset, funder, left)?;
        }
    }
    Ok(left)
}

/// Claws up to `amount` back from one lot of `funder`: what it holds, then what expired of it.
fn claw_back_from_lot(
    draft: &mut Draft<'_>,
    id: LotId,
    asset: &Asset,
    funder: &FunderId,
    amount: Decimal,
) -> Result<Decimal, EvalError> {
    let Some(lot) = draft.lot(id).filter(|lot| lot.funder == *funder && lot.asset == *asset) else {
        return Ok(amount);
    };
    let from = match lot.bucket {
        Bucket::Pending => Account::Pending,
        Bucket::Available => Account::Available,
    };
    let (held, expired) = (lot.amount_points, lot.expired_points);
    let taken = amount.min(held);
    draft.post_in(asset, from, Account::Funder(funder.clone()), taken, Some(id))?;
    // Points that expired unused were never the member's gain: they come back from the
    // expired account, not out of the member's pocket.
    let unexpired = (amount - taken).min(expired);
    draft.post_in(asset, Account::Expired, Account::Funder(funder.clone()), unexpired, Some(id))?;
    Ok(amount - taken - unexpired)
}

/// Lots that returns gave points back into which were first earned in the receipt's own lots.
/// A scan of the member's lots, made only when a return finds its order's points spent.
fn given_back_lots(draft: &Draft<'_>, receipt: &Receipt) -> Vec<LotId> {
    let own = receipt.first_lot.0..receipt.first_lot.0 + u64::from(receipt.lot_count);
    let earned_here = |lot: &&Lot| lot.refund_of.is_some_and(|origin| own.contains(&origin.0));
    let held = draft.state.kept_lots().filter(earned_here).map(|lot| lot.id);
    let opened = draft.outcome.lots_opened.iter().filter(earned_here).map(|lot| lot.id);
    let mut ids: Vec<LotId> = held.chain(opened).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Covers points (or cashback) the member spent from the order's lots with the member's other
/// available points (cashback), since owing some while holding some is the same as paying with
/// them; then the member owes the rest (`negative_balance`) or the program forgives it
/// (`stop_at_zero`).
fn cover_from_available(draft: &mut Draft<'_>, asset: &Asset, spent: &[(FunderId, Decimal)]) -> Result<(), EvalError> {
    let (from, covered_by) = match draft.program.program.returns.when_points_spent {
        SpentPointsPolicy::StopAtZero => (Account::Forgiven, Coverage::Forgiven),
        _ => (Account::Debt, Coverage::Debt),
    };
    let mut uncovered = Decimal::ZERO;
    for (funder, points) in spent {
        let to = Account::Funder(funder.clone());
        let mut taken_from = Vec::new();
        let left = draft.take_available(
            asset,
            *points,
            |_| Some(to.clone()),
            |lot, taken| {
                taken_from.push((lot.funder.clone(), taken));
            },
        )?;
        for (lot_funder, taken) in taken_from {
            draft.settle_between(asset, &lot_funder, funder, taken)?;
        }
        draft.post_in(asset, from.clone(), to, left, None)?;
        uncovered += left;
    }
    notify(draft, asset, uncovered, covered_by);
    Ok(())
}

/// Withholds spent cashback from the money this return refunds, at face value (it is money
/// already, at the currency's places); what the refund can't cover, the member owes.
fn withhold_cashback(draft: &mut Draft<'_>, spent: &[(FunderId, Decimal)], room: Decimal) -> Result<(), EvalError> {
    let total: Decimal = spent.iter().map(|(_, amount)| *amount).sum();
    let covered = total.min(floor_to(room, draft.program.program.money_decimal_places));
    let mut withheld_left = covered;
    for (funder, amount) in spent {
        let withheld = withheld_left.min(*amount);
        withheld_left -= withheld;
        let to = Account::Funder(funder.clone());
        draft.post_in(&Asset::Cashback, Account::RefundWithheld, to.clone(), withheld, None)?;
        draft.post_in(&Asset::Cashback, Account::Debt, to, *amount - withheld, None)?;
    }
    draft.outcome.refund_withheld = Money::new(draft.outcome.refund_withheld.value() + covered);
    notify(draft, &Asset::Cashback, covered, Coverage::RefundWithheld);
    notify(draft, &Asset::Cashback, total - covered, Coverage::Debt);
    Ok(())
}

/// The money a return refunds: the value of the units it returns, less the points (at their
/// value) and the cashback given back for them.
fn money_refund_due(
    draft: &Draft<'_>,
    bought: &Receipt,
    returned: &Receipt,
    points_refund: Decimal,
    cashback_refund: Decimal,
) -> Result<Decimal, EvalError> {
    let lines = bought.lines.iter().zip(&returned.lines);
    let due = value_of_units(lines.map(|(before, after)| (after, after.returned_qty - before.returned_qty)))?;
    // Points can only have paid for the order if the program redeems them.
    let point_value =
        draft.program.program.redemption.as_ref().map_or(Decimal::ZERO, |redemption| redemption.point_value.value());
    Ok((due - checked(points_refund.checked_mul(point_value))? - cashback_refund).max(Decimal::ZERO))
}

/// Withholds the value of the spent points, at the program's point value, from `refund_left`
/// (what this return still refunds). The money is rounded up once, on the order's running total
/// of points withheld, so partial returns whose refunds cover their points withhold what one
/// return would. A refund too small for them all covers the points (at the program's places)
/// that it can pay for and withholds what those are worth; the member owes the rest.
fn deduct_from_refund(
    draft: &mut Draft<'_>,
    receipt: &mut Receipt,
    spent: &[(FunderId, Decimal)],
    refund_left: Decimal,
    point_value: Decimal,
) -> Result<(), EvalError> {
    let program = &draft.program.program;
    let (money_places, point_places) = (program.money_decimal_places, program.rounding.decimal_places);
    let total: Decimal = spent.iter().map(|(_, points)| *points).sum();
    // What the order's withheld points, with `more` of them, are worth at today's point value
    // (which values only the points this return covers, should the program's have changed).
    let worth = |more: Decimal| -> Result<Decimal, EvalError> {
        let points = receipt.withheld_points + more;
        Ok(ceiling_to(checked(points.checked_mul(point_value))?, money_places))
    };
    let (before, room) = (worth(Decimal::ZERO)?, floor_to(refund_left, money_places));
    let affordable = redeem::points_worth_at_most(before + room, point_value, point_places)?;
    let covered = (affordable - receipt.withheld_points).clamp(Decimal::ZERO, total);
    // At most `room`: the covered points are worth at most `before + room`, which is at the
    // money's places already.
    let mut money = worth(covered)? - before;
    let mut withheld_left = covered;
    for (funder, points) in spent {
        let withheld = withheld_left.min(*points);
        withheld_left -= withheld;
        draft.post(Account::RefundWithheld, Account::Funder(funder.clone()), withheld, None)?;
        draft.post(Account::Debt, Account::Funder(funder.clone()), *points - withheld, None)?;
    }
    receipt.withheld_points += covered;
    money.rescale(money_places);
    receipt.withheld_money = Money::new(receipt.withheld_money.value() + money);
    draft.outcome.refund_withheld = Money::new(draft.outcome.refund_withheld.value() + money);
    notify(draft, &Asset::Points, covered, Coverage::RefundWithheld);
    notify(draft, &Asset::Points, total - covered, Coverage::Debt);
    Ok(())
}

/// Tells the host how much spent points (or cashback) a coverage took, if any.
fn notify(draft: &mut Draft<'_>, asset: &Asset, amount: Decimal, covered_by: Coverage) {
    if amount.is_zero() {
        return;
    }
    let notice = match asset {
        Asset::Cashback => Notice::SpentCashbackClawedBack { amount: Money::new(amount), covered_by },
        _ => Notice::SpentPointsClawedBack { points: Points::new(amount), covered_by },
    };
    draft.outcome.notices.push(notice);
}
