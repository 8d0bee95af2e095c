//! Cashback at checkout: paying with the wallet, and what an order earns into it.

use rust_decimal::Decimal;

use crate::amount::{Money, Rounding, RoundingMode, floor_to, is_zero_within_limits, split_exact};
use crate::engine::draft::Draft;
use crate::engine::purchase::{Charge, OrderContext, drain_payment, push_shares, round_line};
use crate::engine::{EvalError, check_decimal, checked, checked_sum};
use crate::event::Purchase;
use crate::id::FunderId;
use crate::ledger::{Asset, Earning, Payment, ReceiptLine};
use crate::program::Effect;

/// Drains the cashback that pays for the order and spreads it over the lines by value; at most
/// the program's share of the order, and never more than `unpaid` (what points left to pay).
/// Returns the amount paid. Most purchases pay nothing with cashback: see the module `engine`
/// on inlined entries.
#[inline(always)]
pub(super) fn pay(
    draft: &mut Draft<'_>,
    purchase: &Purchase,
    lines: &[ReceiptLine],
    unpaid: Decimal,
    seller: &FunderId,
    payment: &mut Payment,
) -> Result<Decimal, EvalError> {
    let requested = purchase.pay_with_cashback.value();
    if is_zero_within_limits(requested) {
        return Ok(Decimal::ZERO);
    }
    pay_requested(draft, purchase, lines, unpaid, seller, payment)
}

/// [`pay`] for a purchase that asks to pay with cashback, or whose amount is out of range.
#[inline(never)]
fn pay_requested(
    draft: &mut Draft<'_>,
    purchase: &Purchase,
    lines: &[ReceiptLine],
    unpaid: Decimal,
    seller: &FunderId,
    payment: &mut Payment,
) -> Result<Decimal, EvalError> {
    let requested = check_decimal(None, "pay_with_cashback", purchase.pay_with_cashback.value())?;
    let program = &draft.program.program;
    let money_places = program.money_decimal_places;
    if requested < Decimal::ZERO || requested.normalize().scale() > money_places {
        return Err(EvalError::InvalidCashback { amount: purchase.pay_with_cashback });
    }
    let spending = program.cashback.as_ref().and_then(|cashback| cashback.spending);
    let spending = spending.ok_or(EvalError::CashbackNotSpendable)?;
    let order_total = checked_sum(lines.iter().map(|line| line.value.value()))?;
    let share_cap = floor_to(checked(order_total.checked_mul(spending.max_share_of_order.value()))?, money_places);
    let max = share_cap.min(unpaid);
    if requested > max {
        return Err(EvalError::CashbackAboveCap { requested: purchase.pay_with_cashback, max: Money::new(max) });
    }
    let available = draft.buckets(&Asset::Cashback).available;
    if available < spending.min_balance.value() || requested > available {
        let minimum = spending.min_balance;
        return Err(EvalError::InsufficientCashback {
            requested: purchase.pay_with_cashback,
            available: Money::new(available),
            minimum,
        });
    }
    let charge = Charge { asset: &Asset::Cashback, amount: requested, decimal_places: money_places };
    drain_payment(draft, &charge, seller, lines, |share| &mut share.cashback, payment)?;
    Ok(requested)
}

/// The cashback every eligible line earns, rule by rule and funder by funder, rounded down to
/// the currency once per line, then trimmed to the program's caps. Inlined (see the module
/// `engine`): many programs have no cashback.
#[inline(always)]
pub(super) fn earn(
    draft: &Draft<'_>,
    order: &OrderContext<'_>,
    lines: &[ReceiptLine],
) -> Result<Vec<Earning>, EvalError> {
    if draft.program.cashback_rules.is_empty() {
        return Ok(Vec::new());
    }
    earn_by_rules(draft, order, lines)
}

/// [`earn`] for a program with cashback rules.
#[inline(never)]
fn earn_by_rules(
    draft: &Draft<'_>,
    order: &OrderContext<'_>,
    lines: &[ReceiptLine],
) -> Result<Vec<Earning>, EvalError> {
    let rules = &draft.program.cashback_rules;
    let rounding = Rounding { mode: RoundingMode::Floor, decimal_places: draft.program.program.money_decimal_places };
    let mut earnings = Vec::new();
    for (index, receipt_line) in lines.iter().enumerate().filter(|(_, line)| line.eligible) {
        let (line, base) = (&order.purchase.lines[index], order.base(receipt_line)?);
        let start = earnings.len();
        let matching = rules.iter().filter(|rule| {
            rule.matches(line, order.purchase, order.eligible_total, order.tier, order.birthday, order.plan)
        });
        // Cashback rules compile their share into a rate effect.
        for (rule, share) in matching.filter_map(|rule| match rule.effect {
            Effect::PointsPerCurrencyUnit(share) => Some((rule, share.value())),
            _ => None,
        }) {
            push_shares(&mut earnings, index, rule, checked(base.checked_mul(share))?, order.seller, order.tier)?;
        }
        round_line(&mut earnings[start..], rounding)?;
    }
    earnings.retain(|earning| !earning.points.is_zero());
    trim_to_caps(draft, order.purchase, &mut earnings)?;
    Ok(earnings)
}

/// Trims the order's cashback to what is left of the caps, spread over its earnings exactly.
fn trim_to_caps(draft: &Draft<'_>, purchase: &Purchase, earnings: &mut Vec<Earning>) -> Result<(), EvalError> {
    let program = &draft.program.program;
    let Some(section) = &program.cashback else { return Ok(()) };
    let total = checked_sum(earnings.iter().map(|earning| earning.points))?;
    let mut cap = section.max_per_order.map_or(total, |cap| cap.value().min(total));
    if let Some(period_cap) = section.max_per_period {
        let (start, end) = checked(period_cap.period.bounds(purchase.at, program.utc_offset.0))?;
        let in_period = draft.state.orders().filter(|receipt| receipt.at >= start && receipt.at < end);
        let earned = checked_sum(
            in_period.flat_map(|receipt| &receipt.cashback).map(|earning| earning.points - earning.clawed_back),
        )?;
        cap = cap.min((period_cap.amount.value() - earned).max(Decimal::ZERO));
    }
    if cap < total && !earnings.is_empty() {
        checked(split_exact(cap, earnings, program.money_decimal_places, |earning| &mut earning.points))?;
        earnings.retain(|earning| !earning.points.is_zero());
    }
    Ok(())
}
