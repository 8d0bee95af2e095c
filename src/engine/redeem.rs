//! Spending points, on a reward or on an order, and giving them to a cause.

use rust_decimal::Decimal;

use crate::amount::Points;
use crate::amount::floor_to;
use crate::engine::draft::Draft;
use crate::engine::{EvalError, check_decimal, checked};
use crate::event::{Donate, Redeem};
use crate::id::FunderId;
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
    let compiled = draft.program;
    spend(draft, points, &Account::Redeemed, compiled.seller(redeem.merchant.as_ref()))
}

/// Gives available points to a cause: spent like a redemption, into `donated:CAUSE`, and
/// honoured by the program's owner. The redemption's minimum balance does not apply.
pub(super) fn donate(draft: &mut Draft<'_>, donation: &Donate) -> Result<(), EvalError> {
    let program = &draft.program.program;
    let Some(donations) = program.donations.as_ref().filter(|donations| donations.accepts(&donation.cause)) else {
        return Err(EvalError::UnknownCause { cause: donation.cause.clone() });
    };
    let points = check_points(program, donation.points.value())?;
    if points < donations.min_points.value() {
        return Err(EvalError::BelowMinimumDonation { requested: donation.points, minimum: donations.min_points });
    }
    draft.settle()?;
    check_available(draft, points)?;
    let compiled = draft.program;
    spend(draft, points, &Account::Donated(donation.cause.clone()), &compiled.program.owner)
}

/// Takes checked, available points out of the member's lots into `to`, and settles what
/// other funders paid for with `payee`, who honours them.
fn spend(draft: &mut Draft<'_>, points: Decimal, to: &Account, payee: &FunderId) -> Result<(), EvalError> {
    let mut by_funder = Vec::new();
    let short = draft.take_available(
        &Asset::Points,
        points,
        |_| Some(to.clone()),
        |lot, taken| {
            by_funder.push((lot.funder.clone(), taken));
        },
    )?;
    assert!(short.is_zero(), "the points were checked against what is available");
    for (funder, taken) in by_funder {
        draft.settle_between(&Asset::Points, &funder, payee, taken)?;
    }
    Ok(())
}

/// Checks an amount of points to spend: positive, within range, no finer than the program's
/// points, and a program that lets members spend.
pub(super) fn check_points_amount(program: &Program, points: Decimal) -> Result<&Redemption, EvalError> {
    check_points(program, points)?;
    program.redemption.as_ref().ok_or(EvalError::RedemptionNotOffered)
}

/// Checks an amount of points to give or spend: positive, within range and no finer than the
/// program's points.
pub(super) fn check_points(program: &Program, points: Decimal) -> Result<Decimal, EvalError> {
    let points = check_decimal(None, "points", points)?;
    if points <= Decimal::ZERO || points.normalize().scale() > program.rounding.decimal_places {
        return Err(EvalError::InvalidPoints { points: Points::new(points) });
    }
    Ok(points)
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
/// at `point_value` each; at most 10^28 units of those places (10^18 points at 10 places, the
/// most an input may ask for), the round number below a decimal's largest mantissa (7.9 x
/// 10^28), so that the quotient is counted to the unit.
pub(super) fn points_worth_at_most(
    value: Decimal,
    point_value: Decimal,
    decimal_places: u32,
) -> Result<Decimal, EvalError> {
    let most = Decimal::try_from_i128_with_scale(MOST_UNITS, decimal_places).expect("places are limited to 10");
    let quotient = value.checked_div(point_value).map_or(most, |quotient| quotient.min(most));
    let points = floor_to(quotient, decimal_places);
    // The quotient is rounded to a decimal's 28 digits, which may put it a unit past the most
    // that fits: then the unit below is.
    for points in [points, points - Decimal::new(1, decimal_places)] {
        if checked(points.checked_mul(point_value))? <= value {
            return Ok(points);
        }
    }
    // Not reached: a quotient below 10^28 units is exact to the unit (the proptest below checks).
    Err(EvalError::Overflow)
}

/// The most units of the points' places that [`points_worth_at_most`] counts.
const MOST_UNITS: i128 = 10_i128.pow(28);

/// Checks that the member may spend `points` now: the minimum balance and what is available.
pub(super) fn check_spendable(draft: &Draft<'_>, points: Decimal, redemption: &Redemption) -> Result<(), EvalError> {
    let available = draft.buckets(&Asset::Points).available;
    if available < redemption.min_balance.value() {
        return Err(EvalError::BelowMinimumBalance {
            minimum: redemption.min_balance,
            available: Points::new(available),
        });
    }
    check_available(draft, points)
}

/// Checks that the member has `points` available now.
pub(super) fn check_available(draft: &Draft<'_>, points: Decimal) -> Result<(), EvalError> {
    let available = draft.buckets(&Asset::Points).available;
    if points > available {
        return Err(EvalError::InsufficientPoints {
            requested: Points::new(points),
            available: Points::new(available),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    use super::{MOST_UNITS, points_worth_at_most};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// The points fit in the value, and one unit more would not: near the edge of what a
        /// decimal holds too, where the quotient has fewer places than the points.
        #[test]
        fn the_points_are_the_most_whose_value_fits(
            value_mantissa in 0_i64..=i64::MAX,
            value_scale in 0_u32..=4,
            point_value_mantissa in 1_i64..=10_000_000_000_000,
            point_value_scale in 0_u32..=10,
            decimal_places in 0_u32..=10,
        ) {
            let value = Decimal::new(value_mantissa, value_scale) * Decimal::from(100_000);
            let point_value = Decimal::new(point_value_mantissa, point_value_scale);
            let points = points_worth_at_most(value, point_value, decimal_places).unwrap();
            let unit = Decimal::new(1, decimal_places);
            let most = Decimal::from_i128_with_scale(MOST_UNITS, decimal_places);
            prop_assert!(points.normalize().scale() <= decimal_places);
            prop_assert!(points * point_value <= value, "{} points at {} are worth more than {}", points, point_value, value);
            // Where the product has more digits than a decimal keeps, it is rounded, and "one
            // unit more" can't be told from the points found.
            let digits = |value: Decimal| value.mantissa().unsigned_abs().checked_ilog10().map_or(1, |log| log + 1);
            let next = points + unit;
            if next <= most && digits(next) + digits(point_value) <= 28 {
                prop_assert!(next * point_value > value, "{} points at {} leave room in {}", points, point_value, value);
            }
        }

        /// Near the most points counted, at the finest places, where a value of exactly so many
        /// units (or a hair less) is a decimal: exactly the units that fit, up to the most.
        #[test]
        fn the_points_near_the_most_are_counted_to_the_unit(
            units in 10_i128.pow(26)..=2 * MOST_UNITS,
            // Small enough that every value is a decimal (2 x 10^28 x 3 is below 7.9 x 10^28).
            point_value_mantissa in 1_i64..=3,
            a_hair_less in any::<bool>(),
        ) {
            let point_value = Decimal::new(point_value_mantissa, 10);
            // At 20 places: the units' worth, or one place less.
            let worth = units * i128::from(point_value_mantissa) - i128::from(a_hair_less);
            let value = Decimal::try_from_i128_with_scale(worth, 20).unwrap();
            let fitting = Decimal::from_i128_with_scale(units - i128::from(a_hair_less), 10);
            let expected = fitting.min(Decimal::from_i128_with_scale(MOST_UNITS, 10));
            prop_assert_eq!(points_worth_at_most(value, point_value, 10).unwrap(), expected);
        }
    }
}
