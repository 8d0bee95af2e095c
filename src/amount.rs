//! Exact amounts: points, money, rounding and the exact split of a total into shares.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The largest number of decimal places accepted in any decimal that comes from outside
/// (events and programs). Anything finer is rejected rather than silently rounded.
pub const MAX_DECIMAL_PLACES: u32 = 10;

/// The largest magnitude accepted in any decimal that comes from outside. It keeps every
/// product the engine forms (price x quantity x rate x share) far inside `Decimal`'s 96 bits,
/// and checked arithmetic catches whatever still overflows.
pub const MAX_DECIMAL_MAGNITUDE: Decimal = Decimal::from_parts(2_808_348_672, 232_830_643, 0, false, 0); // 10^18

/// The largest magnitude of a total the engine stores (a balance, a tier's metric, the money
/// withheld from an order's refunds), checked when a stored record is read. Totals add up
/// amounts within [`MAX_DECIMAL_MAGNITUDE`] (a balance would take a billion postings of the
/// largest size to reach it), and the bound keeps sums of them far inside `Decimal`'s 96 bits.
const MAX_STORED_TOTAL: Decimal = Decimal::from_parts(3_892_314_112, 2_681_241_660, 54_210_108, false, 0); // 10^27

macro_rules! decimal_newtype {
    ($(#[$meta:meta])* $name:ident, $unit:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Decimal);

        impl $name {
            /// Zero.
            pub const ZERO: $name = $name(Decimal::ZERO);

            #[doc = concat!("Wraps a decimal number of ", $unit, ".")]
            pub const fn new(value: Decimal) -> $name {
                $name(value)
            }

            #[doc = concat!("The number of ", $unit, " as a decimal.")]
            pub const fn value(self) -> Decimal {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, formatter)
            }
        }

        impl FromStr for $name {
            type Err = AmountParseError;
            fn from_str(text: &str) -> Result<$name, AmountParseError> {
                parse_exact(text).map($name)
            }
        }

        impl From<Decimal> for $name {
            fn from(value: Decimal) -> $name {
                $name(value)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                exact_decimal::deserialize(deserializer).map($name)
            }
        }
    };
}

decimal_newtype!(
    /// A number of loyalty points. Points may carry decimals when a program's rounding asks for them.
    ///
    /// ```
    /// use loyalty_engine::Points;
    /// let points: Points = "150".parse().unwrap();
    /// assert_eq!(points.to_string(), "150");
    /// ```
    Points,
    "points"
);

decimal_newtype!(
    /// An amount of money in the program's currency.
    ///
    /// ```
    /// use loyalty_engine::Money;
    /// let price: Money = "19.99".parse().unwrap();
    /// assert_eq!(price.value().scale(), 2);
    /// ```
    Money,
    "money units of the program's currency"
);

decimal_newtype!(
    /// A dimensionless decimal: a share of one (`"0.5"`), a rate or a multiplier.
    Ratio,
    "units (a plain ratio)"
);

/// Why a decimal was refused: one from outside past the limits on input, or a stored one past
/// what the engine stores.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountParseError {
    /// The text is not a decimal number.
    #[error("`{0}` is not a decimal number")]
    NotADecimal(String),
    /// The number has more decimal places than [`MAX_DECIMAL_PLACES`].
    #[error("`{0}` has more than {MAX_DECIMAL_PLACES} decimal places")]
    TooManyDecimalPlaces(String),
    /// The number is larger than [`MAX_DECIMAL_MAGNITUDE`].
    #[error("`{0}` is larger than 10^18 in magnitude")]
    TooLarge(String),
    /// A stored amount (in a member's state or an outcome) larger than any the engine writes
    /// there: 10^18, or 10^27 for a total such as a balance.
    #[error("`{0}` is larger than the engine stores there (10^18, or 10^27 for a total) in magnitude")]
    TooLargeToStore(String),
}

/// Parses a decimal exactly, refusing scientific notation, excess scale and huge magnitudes.
fn parse_exact(text: &str) -> Result<Decimal, AmountParseError> {
    check_limits(parse_decimal(text)?, text)
}

/// Parses a decimal exactly, refusing scientific notation and more places than `Decimal` holds.
fn parse_decimal(text: &str) -> Result<Decimal, AmountParseError> {
    let not_a_decimal = || AmountParseError::NotADecimal(text.to_owned());
    if !is_plain_decimal(text) {
        return Err(not_a_decimal());
    }
    Decimal::from_str_exact(text).map_err(|_| not_a_decimal())
}

/// Whether `text` is an optional sign, digits, and optionally a point and more digits: the
/// one way to write a decimal. `rust_decimal` also reads `1_000`, `1._5`, `.5` and `5.`, which
/// read as typos more often than as numbers in a program or an event.
fn is_plain_decimal(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "1"));
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    all_digits(whole) && all_digits(fraction)
}

fn check_limits(value: Decimal, text: &str) -> Result<Decimal, AmountParseError> {
    if value.scale() > MAX_DECIMAL_PLACES {
        return Err(AmountParseError::TooManyDecimalPlaces(text.to_owned()));
    }
    if !within_limits(value) {
        return Err(AmountParseError::TooLarge(text.to_owned()));
    }
    Ok(value)
}

/// Whether `value` is above zero. A sign test: comparing with `Decimal::ZERO` costs a scale
/// alignment, and the hot paths ask this of every amount.
pub(crate) fn is_positive(value: Decimal) -> bool {
    value.is_sign_positive() && !value.is_zero()
}

/// Whether `value` is below zero (a sign test, as [`is_positive`]).
pub(crate) fn is_negative(value: Decimal) -> bool {
    value.is_sign_negative() && !value.is_zero()
}

/// Whether `value` has at most [`MAX_DECIMAL_PLACES`] places and at most
/// [`MAX_DECIMAL_MAGNITUDE`] magnitude; on the mantissa, since this runs on every input.
pub(crate) fn within_limits(value: Decimal) -> bool {
    let scale = value.scale();
    scale <= MAX_DECIMAL_PLACES && value.mantissa().unsigned_abs() <= LIMIT_MANTISSAS[scale as usize]
}

/// Whether `value` is a zero that [`within_limits`] accepts: the check of an amount that is
/// usually zero, such as a purchase's payment with points or cashback.
pub(crate) fn is_zero_within_limits(value: Decimal) -> bool {
    value.is_zero() && value.scale() <= MAX_DECIMAL_PLACES
}

/// Whether `value`'s magnitude is above [`MAX_DECIMAL_MAGNITUDE`]; on the mantissa where the
/// scale allows, since every posting asks.
pub(crate) fn above_magnitude(value: Decimal) -> bool {
    match LIMIT_MANTISSAS.get(value.scale() as usize) {
        Some(limit) => value.mantissa().unsigned_abs() > *limit,
        None => value.abs() > MAX_DECIMAL_MAGNITUDE,
    }
}

/// The largest mantissa within [`MAX_DECIMAL_MAGNITUDE`] at each scale: `10^(18 + scale)`.
const LIMIT_MANTISSAS: [u128; MAX_DECIMAL_PLACES as usize + 1] = {
    let mut limits = [0; MAX_DECIMAL_PLACES as usize + 1];
    let mut scale = 0;
    while scale <= MAX_DECIMAL_PLACES as usize {
        limits[scale] = 10_u128.pow(18 + scale as u32);
        scale += 1;
    }
    limits
};

/// Serde support for decimals that must be exact: strings such as `"10.50"`, or JSON integers.
/// Floating-point numbers are refused (the visitor does not accept them), because by the time
/// serde sees them they may already have lost digits. These come from outside, within
/// [`MAX_DECIMAL_PLACES`] and [`MAX_DECIMAL_MAGNITUDE`].
pub(crate) mod exact_decimal {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        deserializer.deserialize_any(ExactDecimalVisitor(Limits::Input))
    }

    pub(crate) fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    /// Which decimals a field holds, and so what it refuses.
    #[derive(Clone, Copy)]
    pub(super) enum Limits {
        /// From outside: [`MAX_DECIMAL_PLACES`] and [`MAX_DECIMAL_MAGNITUDE`].
        Input,
        /// What the engine computed from inputs: any places, [`MAX_DECIMAL_MAGNITUDE`].
        StoredAmount,
        /// What the engine summed over events or lines: any places, [`MAX_STORED_TOTAL`].
        StoredTotal,
    }

    pub(super) struct ExactDecimalVisitor(pub(super) Limits);

    impl ExactDecimalVisitor {
        fn checked(&self, value: Decimal, text: &str) -> Result<Decimal, AmountParseError> {
            let too_large = match self.0 {
                Limits::Input => return check_limits(value, text),
                Limits::StoredAmount => value.abs() > MAX_DECIMAL_MAGNITUDE,
                Limits::StoredTotal => value.abs() > MAX_STORED_TOTAL,
            };
            if too_large { Err(AmountParseError::TooLargeToStore(text.to_owned())) } else { Ok(value) }
        }
    }

    impl Visitor<'_> for ExactDecimalVisitor {
        type Value = Decimal;

        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str("a decimal written as a string, such as \"10.50\", or an integer")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Decimal, E> {
            self.checked(parse_decimal(text).map_err(E::custom)?, text).map_err(E::custom)
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Decimal, E> {
            self.checked(Decimal::from(value), &value.to_string()).map_err(E::custom)
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Decimal, E> {
            self.checked(Decimal::from(value), &value.to_string()).map_err(E::custom)
        }
    }

    /// Deserializes into [`Decimal`] or an amount type, within `limits`.
    pub(super) fn deserialize_stored<'de, D: Deserializer<'de>, T: From<Decimal>>(
        deserializer: D,
        limits: Limits,
    ) -> Result<T, D::Error> {
        deserializer.deserialize_any(ExactDecimalVisitor(limits)).map(T::from)
    }
}

/// Serde support for the amounts the engine writes into its records (states, receipts, lots,
/// postings, outcomes): exact, as [`exact_decimal`], within [`MAX_DECIMAL_MAGNITUDE`] but with any
/// number of places (a line's quantity times its price may have more than either). What the
/// engine wrote must read back. For [`Decimal`] and the amount types alike.
pub(crate) mod stored_amount {
    use super::exact_decimal::{Limits, deserialize_stored};
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, T: From<Decimal>>(deserializer: D) -> Result<T, D::Error> {
        deserialize_stored(deserializer, Limits::StoredAmount)
    }

    pub(crate) fn serialize<S: Serializer, T: fmt::Display>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }
}

/// Serde support for the totals the engine writes into its records (balances, tier metrics,
/// what an order's returns withheld): as [`stored_amount`], within [`MAX_STORED_TOTAL`], since
/// they add up amounts over many events or lines.
pub(crate) mod stored_total {
    use super::exact_decimal::{Limits, deserialize_stored};
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, T: From<Decimal>>(deserializer: D) -> Result<T, D::Error> {
        deserialize_stored(deserializer, Limits::StoredTotal)
    }

    pub(crate) use super::stored_amount::serialize;
}

/// How a program rounds the points a line earns: a mode and a number of decimal places.
///
/// The default is [`RoundingMode::Floor`] to whole points, which never gives away a fraction
/// of a point.
///
/// ```
/// use loyalty_engine::{Rounding, RoundingMode};
/// use rust_decimal::Decimal;
///
/// let rounding = Rounding { mode: RoundingMode::HalfUp, decimal_places: 1 };
/// assert_eq!(rounding.apply(Decimal::new(1234, 2)), Decimal::new(123, 1)); // 12.34 -> 12.3
/// assert_eq!(rounding.apply(Decimal::new(1235, 2)), Decimal::new(124, 1)); // 12.35 -> 12.4
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rounding {
    /// Which way to round.
    #[serde(default)]
    pub mode: RoundingMode,
    /// How many decimal places points keep (0 for whole points). At most [`MAX_DECIMAL_PLACES`].
    #[serde(default)]
    pub decimal_places: u32,
}

/// A rounding direction. Points are never negative where rounding happens, so `Floor` is
/// also "toward zero".
///
/// ```
/// use loyalty_engine::{Rounding, RoundingMode};
///
/// let modes = [RoundingMode::Floor, RoundingMode::Ceiling, RoundingMode::HalfUp, RoundingMode::HalfEven];
/// let to_whole = |mode, value: &str| Rounding { mode, decimal_places: 0 }.apply(value.parse().unwrap());
/// // The value, then what each mode makes of it: floor, ceiling, half_up, half_even.
/// for (value, expected) in [("2.5", [2, 3, 3, 2]), ("3.5", [3, 4, 4, 4]), ("2.4", [2, 3, 2, 2])] {
///     assert_eq!(modes.map(|mode| to_whole(mode, value)), expected.map(rust_decimal::Decimal::from), "{value}");
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundingMode {
    /// Down to the next representable value (the member never gets a fraction too many).
    #[default]
    Floor,
    /// Up to the next representable value.
    Ceiling,
    /// To the nearest value, halves away from zero.
    HalfUp,
    /// To the nearest value, halves to the even neighbour (banker's rounding).
    HalfEven,
}

impl Rounding {
    /// Rounds `value` with this mode to this many decimal places.
    pub fn apply(self, value: Decimal) -> Decimal {
        let strategy = match self.mode {
            RoundingMode::Floor => RoundingStrategy::ToNegativeInfinity,
            RoundingMode::Ceiling => RoundingStrategy::ToPositiveInfinity,
            RoundingMode::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            RoundingMode::HalfEven => RoundingStrategy::MidpointNearestEven,
        };
        value.round_dp_with_strategy(self.decimal_places, strategy)
    }
}

/// Rounds down to `decimal_places`.
pub(crate) fn floor_to(value: Decimal, decimal_places: u32) -> Decimal {
    value.round_dp_with_strategy(decimal_places, RoundingStrategy::ToNegativeInfinity)
}

/// Rounds up to `decimal_places`.
pub(crate) fn ceiling_to(value: Decimal, decimal_places: u32) -> Decimal {
    value.round_dp_with_strategy(decimal_places, RoundingStrategy::ToPositiveInfinity)
}

/// Splits `total` (a non-negative multiple of `10^-decimal_places`) over `items` in proportion
/// to a weight each item holds in the field `share` points at; on return that field holds the
/// item's part, and the parts add up to `total` exactly.
///
/// The remainder rule (largest remainder): every part first gets its proportional share rounded
/// down; the units left over go one each to the items with the largest dropped fractions, ties
/// to the earlier item. With all weights zero, everything goes to the first item. Returns
/// `None` on overflow.
pub(crate) fn split_exact<T>(
    total: Decimal,
    items: &mut [T],
    decimal_places: u32,
    share: impl Fn(&mut T) -> &mut Decimal,
) -> Option<()> {
    assert!(!items.is_empty(), "split_exact needs at least one item");
    assert!(!is_negative(total), "split_exact splits non-negative totals");
    if let [only] = items {
        *share(only) = total;
        return Some(());
    }
    if items.len() <= MAX_INTEGER_SPLIT && split_in_integers(total, items, decimal_places, &share).is_some() {
        return Some(());
    }
    split_in_decimals(total, items, decimal_places, share)
}

/// The most items [`split_in_integers`] handles; longer splits (points paid over many order
/// lines) take the decimal path.
const MAX_INTEGER_SPLIT: usize = 16;

/// The largest-remainder split in 128-bit integers: exact remainders, and several times faster
/// than decimal division. `None` (with `items` untouched) when the numbers don't fit.
fn split_in_integers<T>(
    total: Decimal,
    items: &mut [T],
    decimal_places: u32,
    share: &impl Fn(&mut T) -> &mut Decimal,
) -> Option<()> {
    let weight_scale = items.iter_mut().map(|item| share(item).scale()).max()?;
    let mut weights = [0_i128; MAX_INTEGER_SPLIT];
    let mut weight_sum: i128 = 0;
    for (weight, item) in weights.iter_mut().zip(items.iter_mut()) {
        *weight = mantissa_at(*share(item), weight_scale)?;
        weight_sum = weight_sum.checked_add(*weight)?;
    }
    let total_units = mantissa_at(total, decimal_places)?;
    let mut parts = [0_i128; MAX_INTEGER_SPLIT];
    let mut remainders = [0_i128; MAX_INTEGER_SPLIT];
    let count = items.len();
    if weight_sum == 0 {
        parts[0] = total_units;
    } else {
        for index in 0..count {
            let product = total_units.checked_mul(weights[index])?;
            parts[index] = divide(product, weight_sum);
            remainders[index] = product - parts[index] * weight_sum;
        }
    }
    let units_left = total_units - parts[..count].iter().sum::<i128>();
    for _ in 0..units_left {
        // The largest remainder, ties to the earlier item; a bumped item is out of the running.
        let best = (0..count).fold(0, |best, index| if remainders[index] > remainders[best] { index } else { best });
        parts[best] += 1;
        remainders[best] = -1;
    }
    let mut results = [Decimal::ZERO; MAX_INTEGER_SPLIT];
    for (result, part) in results.iter_mut().zip(&parts[..count]) {
        *result = Decimal::try_from_i128_with_scale(*part, decimal_places).ok()?;
    }
    for (item, result) in items.iter_mut().zip(results) {
        *share(item) = result;
    }
    Some(())
}

/// `dividend / divisor` for non-negative numbers, in 64 bits when they fit: a 128-bit division
/// is a library call several times slower than the processor's own.
fn divide(dividend: i128, divisor: i128) -> i128 {
    match (u64::try_from(dividend), u64::try_from(divisor)) {
        (Ok(dividend), Ok(divisor)) => i128::from(dividend / divisor),
        _ => dividend / divisor,
    }
}

/// `value`'s mantissa at `scale` decimal places, if `value` has no more places than that and
/// the result fits.
fn mantissa_at(value: Decimal, scale: u32) -> Option<i128> {
    let extra_places = scale.checked_sub(value.scale())?;
    value.mantissa().checked_mul(10_i128.checked_pow(extra_places)?)
}

/// The same split in decimals, for long or huge splits.
fn split_in_decimals<T>(
    total: Decimal,
    items: &mut [T],
    decimal_places: u32,
    share: impl Fn(&mut T) -> &mut Decimal,
) -> Option<()> {
    let mut weight_sum = Decimal::ZERO;
    for item in items.iter_mut() {
        weight_sum = weight_sum.checked_add(*share(item))?;
    }
    if weight_sum.is_zero() {
        for (index, item) in items.iter_mut().enumerate() {
            *share(item) = if index == 0 { total } else { Decimal::ZERO };
        }
        return Some(());
    }
    let mut dropped_fractions = Vec::new();
    let mut allocated = Decimal::ZERO;
    for (index, item) in items.iter_mut().enumerate() {
        let exact = total.checked_mul(*share(item))?.checked_div(weight_sum)?;
        let part = floor_to(exact, decimal_places);
        if part != exact {
            dropped_fractions.push((exact - part, index));
        }
        allocated += part;
        *share(item) = part;
    }
    let unit = Decimal::new(1, decimal_places);
    let mut units_left = ((total - allocated) / unit).trunc();
    // Largest dropped fraction first; the stable sort keeps ties in item order.
    dropped_fractions.sort_by_key(|(fraction, _)| std::cmp::Reverse(*fraction));
    for (_, index) in dropped_fractions {
        if units_left.is_zero() {
            break;
        }
        *share(&mut items[index]) += unit;
        units_left -= Decimal::ONE;
    }
    debug_assert!(units_left.is_zero(), "the dropped fractions cover the units left");
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcut for zeros agrees with the full check at every scale a `Decimal` has, and
    /// accepts nothing but zeros.
    #[test]
    fn a_zero_is_within_limits_exactly_when_the_full_check_says_so() {
        for scale in 0..=28 {
            let zero = Decimal::new(0, scale);
            assert_eq!(is_zero_within_limits(zero), within_limits(zero), "a zero at scale {scale}");
        }
        assert!(!is_zero_within_limits(Decimal::ONE));
    }

    fn split(total: Decimal, weights: &[i64], decimal_places: u32) -> Vec<Decimal> {
        let mut items: Vec<Decimal> = weights.iter().map(|weight| Decimal::from(*weight)).collect();
        split_exact(total, &mut items, decimal_places, |item| item).unwrap();
        items
    }

    fn decimals(values: &[i64]) -> Vec<Decimal> {
        values.iter().map(|value| Decimal::from(*value)).collect()
    }

    #[test]
    fn split_gives_the_left_over_unit_to_the_largest_remainder() {
        assert_eq!(split(Decimal::from(10), &[1, 1, 1], 0), decimals(&[4, 3, 3]));
        assert_eq!(split(Decimal::from(10), &[1, 2, 2], 0), decimals(&[2, 4, 4]));
        assert_eq!(split(Decimal::from(10), &[1, 1], 0), decimals(&[5, 5]));
        assert_eq!(split(Decimal::from(7), &[0, 0], 0), decimals(&[7, 0]));
    }

    #[test]
    fn split_keeps_decimal_places() {
        let parts = split(Decimal::new(100, 2), &[1, 1, 1], 2);
        assert_eq!(parts, vec![Decimal::new(34, 2), Decimal::new(33, 2), Decimal::new(33, 2)]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1_000))]

        /// The integer and the decimal split agree, part for part, and add up to the total.
        #[test]
        fn integer_and_decimal_splits_agree(
            total_units in 0_i64..1_000_000,
            decimal_places in 0_u32..4,
            weights in proptest::collection::vec((0_i64..10_000_000, 0_u32..8), 2..MAX_INTEGER_SPLIT),
        ) {
            let total = Decimal::new(total_units, decimal_places);
            let weights: Vec<Decimal> = weights.iter().map(|(mantissa, scale)| Decimal::new(*mantissa, *scale)).collect();
            let mut in_integers = weights.clone();
            split_in_integers(total, &mut in_integers, decimal_places, &|item: &mut Decimal| item).unwrap();
            let mut in_decimals = weights.clone();
            split_in_decimals(total, &mut in_decimals, decimal_places, |item| item).unwrap();
            proptest::prop_assert_eq!(&in_integers, &in_decimals);
            proptest::prop_assert_eq!(in_integers.iter().copied().sum::<Decimal>(), total);
        }

        /// The sign and magnitude tests on the bits say what comparing the decimals says, at every
        /// scale and sign, negative zero included.
        #[test]
        fn sign_and_magnitude_tests_agree_with_comparisons(
            low in proptest::prelude::any::<u32>(),
            mid in proptest::prelude::any::<u32>(),
            high in proptest::prop_oneof![proptest::prelude::Just(0_u32), 0_u32..2, proptest::prelude::any::<u32>()],
            negative in proptest::prelude::any::<bool>(),
            scale in 0_u32..=28,
        ) {
            let value = Decimal::from_parts(low, mid, high, negative, scale);
            proptest::prop_assert_eq!(is_positive(value), value > Decimal::ZERO);
            proptest::prop_assert_eq!(is_negative(value), value < Decimal::ZERO);
            proptest::prop_assert_eq!(above_magnitude(value), value.abs() > MAX_DECIMAL_MAGNITUDE);
        }

        /// Whatever the engine writes reads back: every decimal's text is a plain decimal.
        #[test]
        fn every_decimal_written_reads_back(
            low in proptest::prelude::any::<u32>(),
            mid in proptest::prelude::any::<u32>(),
            high in proptest::prelude::any::<u32>(),
            negative in proptest::prelude::any::<bool>(),
            scale in 0_u32..=28,
        ) {
            let value = Decimal::from_parts(low, mid, high, negative, scale);
            let read = parse_decimal(&value.to_string()).unwrap();
            proptest::prop_assert_eq!(read, value);
            proptest::prop_assert_eq!(read.scale(), value.scale());
        }
    }

    #[test]
    fn sign_tests_see_through_negative_zero() {
        let negative_zero = Decimal::from_parts(0, 0, 0, true, 3);
        assert!(!is_positive(negative_zero) && !is_negative(negative_zero));
        assert!(above_magnitude(MAX_DECIMAL_MAGNITUDE + Decimal::new(1, 10)));
        assert!(!above_magnitude(-MAX_DECIMAL_MAGNITUDE));
    }

    #[test]
    fn floats_are_refused_and_strings_are_exact() {
        let error = parse_exact("1e3").unwrap_err();
        assert!(matches!(error, AmountParseError::NotADecimal(_)));
        assert_eq!(parse_exact("0.10").unwrap().to_string(), "0.10");
        assert!(matches!(parse_exact("0.00000000001"), Err(AmountParseError::TooManyDecimalPlaces(_))));
        assert!(matches!(parse_exact("10000000000000000000"), Err(AmountParseError::TooLarge(_))));
        assert_eq!(MAX_DECIMAL_MAGNITUDE, Decimal::from(1_000_000_000_000_000_000_i64));
    }

    #[test]
    fn only_plain_decimals_are_read() {
        for typo in ["1_000", "1._5", ".5", "5.", "-.5", "", "-", "+", "1.2.3", " 5", "٥"] {
            assert_eq!(parse_exact(typo), Err(AmountParseError::NotADecimal(typo.to_owned())), "{typo:?}");
        }
        for (text, read) in [("+5", "5"), ("-0.50", "-0.50"), ("007", "7")] {
            assert_eq!(parse_exact(text).unwrap().to_string(), read);
        }
    }
}
