//! Tiers: levels a member reaches through a qualifying metric, with benefits.

use chrono::{DateTime, Days, FixedOffset, Months, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::amount::{Ratio, exact_decimal, within_limits};
use crate::id::Tag;
use crate::program::{CalendarPeriod, CompileError, MAX_EXPIRY_DAYS};

/// The most levels a tier ladder may have.
pub const MAX_TIER_LEVELS: usize = 32;
/// The most flags one level may carry.
pub const MAX_TIER_FLAGS: usize = 32;

/// A ladder of tiers.
///
/// Members climb as soon as the metric over the window reaches a level's threshold. They only
/// go down at a review (the end of each calendar period, or of a rolling window counted from
/// when the level was reached), and only if the window just ended no longer supports the
/// level: one level at a time or straight to the level the metric supports, after an optional
/// grace period during which requalifying cancels the downgrade.
///
/// A return lowers the metric of the window its order was placed in at once: a level that
/// the returned units paid for is lost at once too, never kept until the next review. Only
/// orders placed before the window of the previous review can no longer change the tier.
///
/// ```json
/// {"metric": "net_spend", "window": {"calendar": "year"}, "downgrade": "one_level", "grace_days": 30,
///  "levels": [{"id": "blue", "threshold": "0"},
///             {"id": "silver", "threshold": "1000", "benefits": {"earn_multiplier": "1.25"}},
///             {"id": "gold", "threshold": "5000",
///              "benefits": {"earn_multiplier": "1.5", "discount_share": "0.05", "flags": ["free_shipping"]}}]}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tiers {
    /// What qualifies a member.
    pub metric: TierMetric,
    /// Over which time the metric counts.
    pub window: TierWindow,
    /// How far a review takes a member down.
    #[serde(default)]
    pub downgrade: Downgrade,
    /// Days a downgrade waits after the review; requalifying meanwhile cancels it.
    #[serde(default)]
    pub grace_days: u32,
    /// The levels, lowest first; the first has threshold 0 and is where every member starts.
    /// Members store their level as a position in this list, so a program that drops levels
    /// from the top holds the members above its new top level at that level until their next
    /// review re-derives it.
    pub levels: Vec<TierLevel>,
}

/// What a tier's threshold measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierMetric {
    /// Eligible spend after discounts (before points paid), less what returns took back.
    NetSpend,
    /// Orders placed, less those returned in full.
    Purchases,
    /// Points earned, less what returns clawed back. Spending points never costs a tier.
    PointsEarned,
}

/// The time over which a tier metric counts.
///
/// In JSON: `"lifetime"`, `{"rolling_days": 365}`, `{"rolling_months": 12}` or
/// `{"calendar": "year"}` (also `"half_year"`, `"quarter"`, `"month"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierWindow {
    /// Everything ever; a member is never reviewed down.
    Lifetime,
    /// The last this many days; a level is reviewed this many days after it was reached.
    RollingDays(u32),
    /// The last this many months; a level is reviewed this many months after it was reached.
    RollingMonths(u32),
    /// The current calendar period, in the program's UTC offset; reviewed at its end.
    Calendar(CalendarPeriod),
}

/// How far a review takes a member whose metric no longer supports the level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Downgrade {
    /// One level down (or less, if the metric supports more).
    #[default]
    OneLevel,
    /// Straight to the level the metric supports.
    ToQualified,
}

/// One level of the ladder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierLevel {
    /// The level's id, unique in the ladder.
    pub id: Tag,
    /// The metric needed to reach it.
    #[serde(with = "exact_decimal")]
    pub threshold: Decimal,
    /// What the level gives.
    #[serde(default)]
    pub benefits: TierBenefits,
}

/// What a level gives its members.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierBenefits {
    /// Multiplies the points a line earns from `points_per_currency_unit` rules, as a
    /// `multiplier` rule would (1.5 adds half again); at least 1. Receipts show the extra
    /// points under the rule id `tier:LEVEL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earn_multiplier: Option<Ratio>,
    /// A share of the order the host takes off the price, in [0, 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_share: Option<Ratio>,
    /// Flags for the host, such as `free_shipping` or `early_access`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<Tag>,
}

impl Tiers {
    pub(crate) fn validate(&self) -> Result<(), CompileError> {
        self.validate_window()?;
        if self.grace_days > MAX_EXPIRY_DAYS {
            return Err(CompileError::new("tiers.grace_days", format!("must be at most {MAX_EXPIRY_DAYS}")));
        }
        let count = self.levels.len();
        if count == 0 || count > MAX_TIER_LEVELS {
            return Err(CompileError::new("tiers.levels", format!("must have 1 to {MAX_TIER_LEVELS} levels")));
        }
        if !self.levels[0].threshold.is_zero() {
            return Err(CompileError::new("tiers.levels[0].threshold", "the first level starts at 0"));
        }
        for (position, level) in self.levels.iter().enumerate() {
            self.validate_level(position, level)?;
        }
        Ok(())
    }

    fn validate_window(&self) -> Result<(), CompileError> {
        let (count, limit) = match self.window {
            TierWindow::RollingDays(days) => (days, MAX_EXPIRY_DAYS),
            TierWindow::RollingMonths(months) => (months, MAX_EXPIRY_DAYS / 30),
            TierWindow::Lifetime | TierWindow::Calendar(_) => return Ok(()),
        };
        if count == 0 || count > limit {
            return Err(CompileError::new("tiers.window", format!("must be between 1 and {limit}, not {count}")));
        }
        Ok(())
    }

    fn validate_level(&self, position: usize, level: &TierLevel) -> Result<(), CompileError> {
        let path = format!("tiers.levels[{position}]");
        if let Some(first) = self.levels[..position].iter().position(|earlier| earlier.id == level.id) {
            return Err(CompileError::new(format!("{path}.id"), format!("is also the id of tiers.levels[{first}]")));
        }
        let previous = position.checked_sub(1).map(|earlier| self.levels[earlier].threshold);
        if !within_limits(level.threshold) || previous.is_some_and(|previous| level.threshold <= previous) {
            return Err(CompileError::new(format!("{path}.threshold"), "must be above the previous level's"));
        }
        let benefits = &level.benefits;
        if benefits.earn_multiplier.is_some_and(|multiplier| multiplier.value() < Decimal::ONE) {
            return Err(CompileError::new(format!("{path}.benefits.earn_multiplier"), "must be at least 1"));
        }
        let share = benefits.discount_share.map_or(Decimal::ZERO, Ratio::value);
        if share < Decimal::ZERO || share >= Decimal::ONE {
            return Err(CompileError::new(format!("{path}.benefits.discount_share"), "must be in [0, 1)"));
        }
        if benefits.flags.len() > MAX_TIER_FLAGS {
            return Err(CompileError::new(format!("{path}.benefits.flags"), format!("at most {MAX_TIER_FLAGS}")));
        }
        Ok(())
    }

    /// The highest level a metric reaches.
    pub(crate) fn supported(&self, metric: Decimal) -> u32 {
        let reached = self.levels.iter().take_while(|level| level.threshold <= metric).count();
        u32::try_from(reached.saturating_sub(1)).expect("levels are limited to 32")
    }

    /// Where the window over which the metric counts at `at` starts (inclusive).
    pub(crate) fn window_start(&self, at: DateTime<Utc>, offset: FixedOffset) -> Option<DateTime<Utc>> {
        match self.window {
            TierWindow::Lifetime => Some(DateTime::<Utc>::MIN_UTC),
            TierWindow::RollingDays(days) => at.checked_sub_days(Days::new(u64::from(days))),
            TierWindow::RollingMonths(months) => {
                Some(at.with_timezone(&offset).checked_sub_months(Months::new(months))?.with_timezone(&Utc))
            }
            TierWindow::Calendar(period) => Some(period.bounds(at, offset)?.0),
        }
    }

    /// When a level reached (or confirmed) at `at` is next reviewed; `None` for never.
    pub(crate) fn review_after(&self, at: DateTime<Utc>, offset: FixedOffset) -> Option<DateTime<Utc>> {
        match self.window {
            TierWindow::Lifetime => None,
            TierWindow::RollingDays(days) => at.checked_add_days(Days::new(u64::from(days))),
            TierWindow::RollingMonths(months) => {
                Some(at.with_timezone(&offset).checked_add_months(Months::new(months))?.with_timezone(&Utc))
            }
            TierWindow::Calendar(period) => Some(period.bounds(at, offset)?.1),
        }
    }

    /// When a downgrade decided at a review at `at` takes effect.
    pub(crate) fn grace_end(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        at.checked_add_signed(TimeDelta::days(i64::from(self.grace_days)))
    }
}
