//! Spending points, on a reward or on an order.

use rust_decimal::Decimal;

use crate::amount::Points;
use crate::amount::floor_to;
use crate::engine::draft::Draft;
use crate::engine::{EvalError, check_decimal, checked};
use crate::event::Redeem;
use crate::ledger::{Account, Asset};
use crate::program::{Program, Redemption};

pub(super) fn evaluate(draft: &mut Draft<'_>, redeem: &Redeem) -> Result<(), EvalError> {
    let points = redeem.points.value();
    if points.is_zero() {
        return Err(EvalError::InvalidPoints { points: redeem.points });
    }
    let redemption = check_points_amount(&draft.program.program, points)?;
    draft.settle()?;
    check_spendable(draft, points, redemption)?;
    let mut by_funder = Vec::new();
    let short = draft.take_available(&Asset::Points, points, &Account::Redeemed, |lot, taken| {
        by_funder.push((lot.funder.clone(), taken));
    })?;
    assert!(short.is_zero(), "check_spendable guarantees the points are there");
    let seller = draft.program.seller(redeem.merchant.as_ref()).clone();
    for (funder, taken) in by_funder {
        draft.settle_between(&Asset::Points, &funder, &seller, taken)?;
    }
    Ok(())
}

/// Checks an amount of points to spend: positive, within range, no finer than the program's
/// points, and a program that lets members spend.
pub(super) fn check_points_amount(program: &Program, points: Decimal) -> Result<&Redemption, EvalError> {
    let points = check_decimal("points", points)?;
    if points <= Decimal::ZERO || points.normalize().scale() > program.rounding.decimal_places {
        return Err(EvalError::InvalidPoints { points: Points::new(points) });
    }
    program.redemption.as_ref().ok_or(EvalError::RedemptionNotOffered)
}

/// The most points that may pay for an order worth `order_total`: the program's share cap,
/// rounded down to the program's points.
pub(super) fn max_points_for_order(
    program: &Program,
    redemption: &Redemption,
    order_total: Decimal,
) -> Result<Decimal, EvalError> {
    let max_value = checked(order_total.checked_mul(redemption.max_share_of_order.value()))?;
    points_worth_at_most(max_value, redemption.point_value.value(), program.rounding.decimal_places)
}

/// The most points, counted at `decimal_places`, that are worth at most `value` (not negative)
/// at `point_value` each.
pub(super) fn points_worth_at_most(
    value: Decimal,
    point_value: Decimal,
    decimal_places: u32,
) -> Result<Decimal, EvalError> {
    let points = floor_to(checked(value.checked_div(point_value))?, decimal_places);
    // The quotient is rounded to a decimal's 28 digits, possibly up to the next whole unit;
    // then the unit below is the most whose value fits.
    if checked(points.checked_mul(point_value))? > value {
        return Ok(points - Decimal::new(1, decimal_places));
    }
    Ok(points)
}

/// Checks that the member may spend `points` now: the minimum balance and what is available.
pub(super) fn check_spendable(draft: &Draft<'_>, points: Decimal, redemption: &Redemption) -> Result<(), EvalError> {
    let available = draft.buckets(&Asset::Points).available;
    if available < redemption.min_balance.value() {
        return Err(EvalError::BelowMinimumBalance {
            minimum: redemption.min_balance,
            available: Points::new(available),
        });
    }
    if points > available {
        return Err(EvalError::InsufficientPoints {
            requested: Points::new(points),
            available: Points::new(available),
        });
    }
    Ok(())
}
