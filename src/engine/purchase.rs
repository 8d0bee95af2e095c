//! Purchases: validate the lines, pay with points, earn, open lots, write the receipt.

use std::sync::Arc;

use chrono::TimeDelta;
use rust_decimal::Decimal;

use crate::amount::{Money, Rounding, split_exact};
use crate::engine::draft::Draft;
use crate::engine::redeem::{check_points_amount, check_spendable, max_points_for_order};
use crate::engine::{EvalError, MAX_LINES_PER_EVENT, check_decimal, checked, checked_sum, stamps, tiers};
use crate::event::Purchase;
use crate::id::{FunderId, Tag};
use crate::ledger::{Account, Earning, Lot, LotId, PaidWith, Receipt, ReceiptLine};
use crate::program::{CompiledRule, Effect};

pub(super) fn evaluate(draft: &mut Draft<'_>, purchase: &Purchase) -> Result<(), EvalError> {
    let program = &draft.program.program;
    if let Some(currency) = purchase.currency.as_ref().filter(|currency| **currency != program.currency) {
        return Err(EvalError::CurrencyMismatch { expected: program.currency.clone(), found: currency.clone() });
    }
    if draft.state.order(&purchase.order).is_some() {
        return Err(EvalError::DuplicateOrder { order: purchase.order.clone() });
    }
    let mut lines = receipt_lines(draft, purchase)?;
    // Room for the usual: one accrual posting and one lot per funder.
    draft.outcome.postings.reserve(4);
    draft.outcome.lots_opened.reserve(2);
    draft.settle()?;
    let order_total = checked_sum(lines.iter().map(|line| line.value.value()))?;
    let seller = draft.program.seller(purchase.merchant.as_ref()).clone();
    let (paid_with, paid_value) = pay_with_points(draft, purchase, &mut lines, order_total, &seller)?;
    let earnings = earn(draft, purchase, &lines, order_total, paid_value, &seller)?;
    let (first_lot, lot_count) = open_lots(draft, purchase, &earnings)?;
    let stamps = stamps::earn(draft, purchase, &lines, &seller)?;
    let partner = (seller != draft.program.program.owner).then_some(seller);
    let tier = tiers::level_id(draft).cloned();
    let order = purchase.order.clone();
    let (withheld_points, withheld_money) = (Decimal::ZERO, Money::ZERO);
    let receipt = Receipt {
        order,
        at: purchase.at,
        lines,
        earnings,
        first_lot,
        lot_count,
        paid_with,
        withheld_points,
        withheld_money,
        tier,
        partner,
        stamps,
    };
    tiers::record_order(draft, &receipt)?;
    draft.outcome.receipt = Some(Arc::new(receipt));
    Ok(())
}

/// Checks every line and prices it: value = qty x unit price - discount.
fn receipt_lines(draft: &Draft<'_>, purchase: &Purchase) -> Result<Vec<ReceiptLine>, EvalError> {
    check_line_count(purchase.lines.len())?;
    let mut lines = Vec::with_capacity(purchase.lines.len());
    for (index, line) in purchase.lines.iter().enumerate() {
        let qty = check_decimal("qty", line.qty)?;
        let unit_price = check_decimal("unit_price", line.unit_price.value())?;
        let discount = check_decimal("discount", line.discount.value())?;
        if qty <= Decimal::ZERO {
            return Err(EvalError::InvalidQuantity { line: index, qty });
        }
        if unit_price <= Decimal::ZERO {
            return Err(EvalError::InvalidPrice { line: index, unit_price: line.unit_price });
        }
        let gross = checked(qty.checked_mul(unit_price))?;
        if discount < Decimal::ZERO || discount > gross {
            let line_value = Money::new(gross);
            return Err(EvalError::InvalidDiscount { line: index, discount: line.discount, line_value });
        }
        lines.push(ReceiptLine {
            sku: line.sku.clone(),
            qty,
            returned_qty: Decimal::ZERO,
            value: Money::new(gross - discount),
            eligible: !draft.program.rules.is_excluded(line),
            points_paid: Decimal::ZERO,
            points_paid_refunded: Decimal::ZERO,
        });
    }
    Ok(lines)
}

pub(super) fn check_line_count(count: usize) -> Result<(), EvalError> {
    match count {
        0 => Err(EvalError::NoLines),
        count if count > MAX_LINES_PER_EVENT => Err(EvalError::TooManyLines { count }),
        _ => Ok(()),
    }
}

/// Drains the points that pay for the order and spreads them over the lines by value.
/// Returns what paid, by funder, and its value in money.
fn pay_with_points(
    draft: &mut Draft<'_>,
    purchase: &Purchase,
    lines: &mut [ReceiptLine],
    order_total: Decimal,
    seller: &FunderId,
) -> Result<(Vec<PaidWith>, Decimal), EvalError> {
    let requested = purchase.pay_with_points.value();
    if requested.is_zero() {
        return Ok((Vec::new(), Decimal::ZERO));
    }
    let program = &draft.program.program;
    let redemption = check_points_amount(program, requested)?;
    let max_points = max_points_for_order(program, redemption, order_total)?;
    if requested > max_points {
        return Err(EvalError::PointsAboveCap { requested: purchase.pay_with_points, max_points: max_points.into() });
    }
    check_spendable(draft, requested, redemption)?;
    let mut paid_with: Vec<PaidWith> = Vec::new();
    let short = draft
        .take_available(requested, &Account::Redeemed, |lot, points| record_payment(&mut paid_with, lot, points))?;
    assert!(short.is_zero(), "check_spendable guarantees the points are there");
    for paid in &paid_with {
        draft.settle_between(&paid.funder, seller, paid.points)?;
    }
    for line in lines.iter_mut() {
        line.points_paid = line.value.value();
    }
    let decimal_places = program.rounding.decimal_places;
    checked(split_exact(requested, lines, decimal_places, |line| &mut line.points_paid))?;
    Ok((paid_with, checked(requested.checked_mul(redemption.point_value.value()))?))
}

/// Adds points drained from `lot` to the payment, grouped by funder and expiry so that a return
/// gives each group back with its own expiry.
fn record_payment(paid_with: &mut Vec<PaidWith>, lot: &Lot, points: Decimal) {
    match paid_with.iter_mut().find(|paid| paid.funder == lot.funder && paid.expires_at == lot.expires_at) {
        Some(paid) => paid.points += points,
        None => paid_with.push(PaidWith {
            funder: lot.funder.clone(),
            points,
            refunded: Decimal::ZERO,
            expires_at: lot.expires_at,
        }),
    }
}

/// What every eligible line earns, rule by rule and funder by funder, rounded per line.
fn earn(
    draft: &Draft<'_>,
    purchase: &Purchase,
    lines: &[ReceiptLine],
    order_total: Decimal,
    paid_value: Decimal,
    seller: &FunderId,
) -> Result<Vec<Earning>, EvalError> {
    let level = tiers::level(draft);
    let tiers = draft.program.program.tiers.as_ref();
    let order = OrderContext {
        purchase,
        seller,
        tier: level.zip(tiers).map(|(level, tiers)| &tiers.levels[level as usize].id),
        tier_multiplier: level.and_then(|level| draft.program.tier_multipliers[level as usize].as_ref()),
        eligible_total: checked_sum(lines.iter().filter(|line| line.eligible).map(|line| line.value.value()))?,
        // What money, not points, paid of the order; a line's base is its share of that.
        paid_in_money: (!paid_value.is_zero()).then_some(order_total - paid_value),
        order_total,
    };
    let order_parts = per_order_parts(draft, purchase, lines, &order)?;
    let mut earnings = Vec::with_capacity(2 * lines.len());
    let mut scratch = Vec::new();
    for (index, receipt_line) in lines.iter().enumerate().filter(|(_, line)| line.eligible) {
        let start = earnings.len();
        earn_line(draft, &order, index, receipt_line, &mut scratch, &mut earnings)?;
        for (_, position, points) in order_parts.iter().filter(|(line, _, _)| *line == index) {
            let rule = &draft.program.rules.rules[*position as usize];
            push_shares(&mut earnings, index, rule, *points, seller, order.tier)?;
        }
        round_line(&mut earnings[start..], draft.program.program.rounding)?;
    }
    earnings.retain(|earning| !earning.points.is_zero());
    Ok(earnings)
}

/// What every line of one order earns against.
struct OrderContext<'a> {
    purchase: &'a Purchase,
    /// Who funds what names no funders.
    seller: &'a FunderId,
    /// The member's tier level, in a program with tiers.
    tier: Option<&'a Tag>,
    /// That level's earn multiplier.
    tier_multiplier: Option<&'a CompiledRule>,
    eligible_total: Decimal,
    paid_in_money: Option<Decimal>,
    order_total: Decimal,
}

/// Pushes the raw (unrounded) points each matching per-line rule gives line `index`: rates and
/// per-unit points first, then multipliers of the rate points.
fn earn_line(
    draft: &Draft<'_>,
    order: &OrderContext<'_>,
    index: usize,
    receipt_line: &ReceiptLine,
    scratch: &mut Vec<u32>,
    earnings: &mut Vec<Earning>,
) -> Result<(), EvalError> {
    let line = &order.purchase.lines[index];
    let value = receipt_line.value.value();
    // Multiplying first keeps the one division exact wherever the result is.
    let base = match order.paid_in_money {
        Some(money) => checked(checked(value.checked_mul(money))?.checked_div(order.order_total))?,
        None => value,
    };
    let rules = &draft.program.rules;
    let matching = rules
        .candidates(line, scratch)
        .iter()
        .map(|position| &rules.rules[*position as usize])
        .filter(|rule| rule.matches(line, order.purchase, order.eligible_total, order.tier));
    let mut rate_points = Decimal::ZERO;
    for rule in matching.clone() {
        let raw = match rule.effect {
            Effect::PointsPerCurrencyUnit(rate) => {
                let points = checked(base.checked_mul(rate.value()))?;
                rate_points = checked(rate_points.checked_add(points))?;
                points
            }
            Effect::PointsPerUnit(points) => checked(receipt_line.qty.checked_mul(points.value()))?,
            Effect::Multiplier(_) | Effect::PointsPerOrder(_) => continue,
        };
        push_shares(earnings, index, rule, raw, order.seller, order.tier)?;
    }
    let multipliers = matching.filter(|_| rules.has_multipliers).chain(order.tier_multiplier);
    for rule in multipliers.filter(|_| !rate_points.is_zero()) {
        if let Effect::Multiplier(multiplier) = rule.effect {
            let raw = checked(rate_points.checked_mul(multiplier.value() - Decimal::ONE))?;
            push_shares(earnings, index, rule, raw, order.seller, order.tier)?;
        }
    }
    Ok(())
}

/// Spreads each matching per-order rule's points over its matching lines by value, exactly at
/// the program's points precision, so that rounding each line later keeps them whole.
/// Returns `(line, rule, points)` parts.
fn per_order_parts(
    draft: &Draft<'_>,
    purchase: &Purchase,
    lines: &[ReceiptLine],
    order: &OrderContext<'_>,
) -> Result<Vec<(usize, u32, Decimal)>, EvalError> {
    let rules = &draft.program.rules;
    let decimal_places = draft.program.program.rounding.decimal_places;
    let mut parts = Vec::new();
    for &position in &rules.per_order {
        let rule = &rules.rules[position as usize];
        let Effect::PointsPerOrder(points) = rule.effect else { continue };
        if !rule.when.matches_order(purchase, order.eligible_total, order.tier) {
            continue;
        }
        let start = parts.len();
        for (index, (line, receipt_line)) in purchase.lines.iter().zip(lines).enumerate() {
            if receipt_line.eligible && rule.when.matches_line(line) {
                parts.push((index, position, receipt_line.value.value()));
            }
        }
        if parts.len() > start {
            checked(split_exact(points.value(), &mut parts[start..], decimal_places, |part| &mut part.2))?;
        }
    }
    Ok(parts)
}

/// Adds one earning per funder of `rule` (the seller, if it names none), holding the raw
/// (unrounded) points for now.
fn push_shares(
    earnings: &mut Vec<Earning>,
    line: usize,
    rule: &CompiledRule,
    raw: Decimal,
    seller: &FunderId,
    tier: Option<&Tag>,
) -> Result<(), EvalError> {
    let line = u32::try_from(line).expect("lines are limited far below u32::MAX");
    let tier = tier.filter(|_| rule.tier_bound);
    let earning = |funder: &FunderId, points| Earning {
        line,
        rule: rule.id.clone(),
        funder: funder.clone(),
        points,
        clawed_back: Decimal::ZERO,
        min_order_total: rule.when.min_order_total,
        tier: tier.cloned(),
    };
    if rule.funders.is_empty() {
        earnings.push(earning(seller, raw));
    }
    for (funder, share) in &rule.funders {
        earnings.push(earning(funder, checked(raw.checked_mul(*share))?));
    }
    Ok(())
}

/// Rounds a line's raw points once, then splits the rounded total back over its earnings
/// exactly, so that rules and funders add up to the line and nothing is lost to rounding.
fn round_line(line_earnings: &mut [Earning], rounding: Rounding) -> Result<(), EvalError> {
    if line_earnings.is_empty() {
        return Ok(());
    }
    let raw_total = checked_sum(line_earnings.iter().map(|earning| earning.points))?;
    let total = rounding.apply(raw_total);
    checked(split_exact(total, line_earnings, rounding.decimal_places, |earning| &mut earning.points))?;
    Ok(())
}

/// Opens one lot per funder and fills it with that funder's points. Returns the first lot's id
/// and how many were opened.
fn open_lots(draft: &mut Draft<'_>, purchase: &Purchase, earnings: &[Earning]) -> Result<(LotId, u32), EvalError> {
    let first_index = draft.outcome.lots_opened.len();
    let first_lot = LotId(draft.state.next_lot().0 + first_index as u64);
    let vesting = TimeDelta::days(i64::from(draft.program.program.returns.vesting_days));
    let vests_at = checked(purchase.at.checked_add_signed(vesting))?;
    let expires_at = draft.program.program.expiry.expires_at(vests_at, draft.program.program.utc_offset.0);
    for earning in earnings {
        if !draft.outcome.lots_opened[first_index..].iter().any(|lot| lot.funder == earning.funder) {
            draft.open_lot(earning.funder.clone(), Some(purchase.order.clone()), vests_at, expires_at);
        }
    }
    let lot_count = draft.outcome.lots_opened.len() - first_index;
    let to = if vests_at <= purchase.at { Account::Available } else { Account::Pending };
    for offset in 0..lot_count {
        let lot = &draft.outcome.lots_opened[first_index + offset];
        let (id, funder) = (lot.id, lot.funder.clone());
        let points =
            checked_sum(earnings.iter().filter(|earning| earning.funder == funder).map(|earning| earning.points))?;
        draft.post(Account::Funder(funder), to.clone(), points, Some(id))?;
        if to == Account::Available {
            draft.repay_debt(id)?;
        }
    }
    Ok((first_lot, u32::try_from(lot_count).expect("one lot per funder")))
}
