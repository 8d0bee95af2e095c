//! Program definitions (serde types) and their compilation into an [`Engine`].

mod adjustments;
mod bonuses;
mod cashback;
mod donations;
mod earn;
mod expiry;
mod memberships;
mod partners;
mod period;
mod redemption;
mod returns;
mod stamps;
mod tiers;
mod transfers;

use std::fmt;
use std::str::FromStr;

use chrono::FixedOffset;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use adjustments::{Adjustments, MAX_ADJUSTMENT_REASONS};
pub(crate) use bonuses::CompiledBonus;
pub use bonuses::{Bonus, BonusLimit, BonusTrigger, MAX_BIRTHDAYS_PER_EVENT, MAX_BONUS_TIMES, MAX_BONUSES};
pub use cashback::{Cashback, CashbackRule, CashbackSpending, PeriodCap};
pub use donations::{Donations, MAX_CAUSES};
pub(crate) use earn::{BirthdayFit, CompiledRule, RuleIndex, compile_funders};
pub use earn::{
    BirthdayWindow, Condition, Earn, EarnRule, Effect, MAX_BIRTHDAY_WINDOW_DAYS, MAX_CONDITION_VALUES, MAX_EARN_RULES,
    MAX_EXCLUSIONS, MAX_FUNDERS_PER_RULE, OverCap, PointsPeriodCap,
};
pub use expiry::{Expiry, MAX_EXPIRY_DAYS};
pub use memberships::{MAX_MEMBERSHIP_MONTHS, MAX_MEMBERSHIP_PLANS, MembershipPlan};
pub use partners::{MAX_PARTNERS, Partner};
pub use period::CalendarPeriod;
pub use redemption::Redemption;
pub use returns::{MAX_VESTING_DAYS, Returns, SpentPointsPolicy};
pub(crate) use stamps::{CompiledCard, check_reward};
pub use stamps::{MAX_STAMP_CARDS, MAX_STAMPS, RewardKind, StampCard};
pub use tiers::{Downgrade, MAX_TIER_FLAGS, MAX_TIER_LEVELS, TierBenefits, TierLevel, TierMetric, TierWindow, Tiers};
pub use transfers::{MAX_LOTS_PER_TRANSFER, Transfers};

use crate::amount::{MAX_DECIMAL_PLACES, Rounding};
use crate::engine::Engine;
use crate::id::{FunderId, Tag};

/// The most decimal places the program currency may have.
pub const MAX_MONEY_DECIMAL_PLACES: u32 = 6;

/// A loyalty program: data, read with serde, checked once by [`Program::compile`].
///
/// Every mechanic is optional. Unknown fields are errors, so a typo never silently disables a
/// rule.
///
/// ```
/// use loyalty_engine::Program;
///
/// let program: Program = serde_json::from_str(r#"{
///   "id": "shop", "currency": "TRY", "owner": "shop", "utc_offset": "+03:00",
///   "earn": {"rules": [{"id": "base", "effect": {"points_per_currency_unit": "0.1"}}]},
///   "redemption": {"point_value": "1", "max_share_of_order": "0.5"},
///   "returns": {"vesting_days": 15, "when_points_spent": "deduct_from_refund"},
///   "expiry": {"after_months": 12}
/// }"#).unwrap();
/// let engine = program.compile().unwrap();
///
/// // A purchase of 1,000 TRY earns 100 points, pending for the 15 days of the return window.
/// let member = loyalty_engine::MemberState::new("m-1".parse().unwrap());
/// let purchase: loyalty_engine::Event = serde_json::from_str(r#"{"type": "purchase", "id": "e-1",
///   "member": "m-1", "at": "2026-03-01T10:00:00Z", "order": "o-1",
///   "lines": [{"sku": "kettle", "qty": "1", "unit_price": "1000"}]}"#).unwrap();
/// let outcome = engine.evaluate(&member, &purchase).unwrap();
/// assert_eq!(outcome.lots_opened[0].vests_at.to_rfc3339(), "2026-03-16T10:00:00+00:00");
/// assert_eq!(outcome.postings[0].amount.to_string(), "100");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    /// The program's id.
    pub id: Tag,
    /// The currency every price and point value is in; purchases in another are refused.
    pub currency: Tag,
    /// Decimal places of the currency (2 for cents); money the engine computes, such as a
    /// refund withheld, is rounded up to them.
    #[serde(default = "cents")]
    pub money_decimal_places: u32,
    /// The program owner: the funder of whatever names no funders and is not sold by a
    /// partner.
    pub owner: FunderId,
    /// The offset from UTC of the program's calendar (end of month, end of year).
    #[serde(default)]
    pub utc_offset: UtcOffset,
    /// How each line's points are rounded; default floor to whole points.
    #[serde(default)]
    pub rounding: Rounding,
    /// How purchases earn points.
    #[serde(default)]
    pub earn: Earn,
    /// How points are spent; without it, points can't be spent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redemption: Option<Redemption>,
    /// Reasons a back office may credit or take back points for; without it, points can't be
    /// adjusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjustments: Option<Adjustments>,
    /// Causes members may give points to; without it, points can't be donated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub donations: Option<Donations>,
    /// Whether members may give points to each other; without it, points can't be transferred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfers: Option<Transfers>,
    /// Vesting and what returns do to spent points.
    #[serde(default)]
    pub returns: Returns,
    /// When points expire; default never.
    #[serde(default)]
    pub expiry: Expiry,
    /// A ladder of tiers with their benefits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<Tiers>,
    /// Stamp cards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stamp_cards: Vec<StampCard>,
    /// Cashback into the member's cashback wallet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cashback: Option<Cashback>,
    /// Coalition partners and their merchants.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partners: Vec<Partner>,
    /// Fixed points for joining, a referral, a birthday or a named event from the host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bonuses: Vec<Bonus>,
    /// Paid membership plans, whose members belong to the plan's segment while it runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memberships: Vec<MembershipPlan>,
}

fn cents() -> u32 {
    2
}

impl Program {
    /// Checks the whole definition and builds an [`Engine`] with its lookup tables.
    ///
    /// # Errors
    ///
    /// A [`CompileError`] naming the path of the first offending field, such as
    /// `earn.rules[3].funded_by: shares sum to 0.9, not exactly 1`.
    pub fn compile(&self) -> Result<Engine, CompileError> {
        if self.rounding.decimal_places > MAX_DECIMAL_PLACES {
            let message = format!("must be at most {MAX_DECIMAL_PLACES}");
            return Err(CompileError::new("rounding.decimal_places", message));
        }
        if self.money_decimal_places > MAX_MONEY_DECIMAL_PLACES {
            let message = format!("must be at most {MAX_MONEY_DECIMAL_PLACES}");
            return Err(CompileError::new("money_decimal_places", message));
        }
        if let Some(redemption) = &self.redemption {
            redemption.validate()?;
        }
        memberships::validate_plans(&self.memberships)?;
        if let Some(adjustments) = &self.adjustments {
            adjustments.validate(self.rounding.decimal_places)?;
        }
        if let Some(donations) = &self.donations {
            donations.validate(self.rounding.decimal_places)?;
        }
        if let Some(transfers) = &self.transfers {
            transfers.validate(self.rounding.decimal_places)?;
        }
        self.check_refund_prices_spent_points()?;
        self.returns.validate()?;
        self.expiry.validate()?;
        if let Some(tiers) = &self.tiers {
            tiers.validate()?;
        }
        let rules = RuleIndex::compile(&self.earn, self.rounding.decimal_places)?;
        self.check_tier_conditions()?;
        let cards = stamps::compile_cards(&self.stamp_cards, self.rounding.decimal_places)?;
        let sellers = partners::compile_partners(&self.partners)?;
        let cashback =
            self.cashback.as_ref().map(|cashback| cashback.compile(self.money_decimal_places)).transpose()?;
        let bonuses = bonuses::compile_bonuses(&self.bonuses, &self.owner, self.rounding.decimal_places)?;
        let cashback = cashback.unwrap_or_default();
        Ok(Engine::new(self.clone(), rules, self.tier_multipliers()?, cards, sellers, cashback, bonuses))
    }

    /// Donated, transferred and taken-back points are spent points a return must cover even
    /// without a `redemption` section, and under `deduct_from_refund` only its point value
    /// prices them.
    fn check_refund_prices_spent_points(&self) -> Result<(), CompileError> {
        let spends_without_redemption = self.redemption.is_none()
            && (self.donations.is_some() || self.transfers.is_some() || self.adjustments.is_some());
        if spends_without_redemption && self.returns.when_points_spent == SpentPointsPolicy::DeductFromRefund {
            let message = "deduct_from_refund prices donated, transferred and taken-back points at \
                           redemption.point_value: add a redemption section";
            return Err(CompileError::new("returns.when_points_spent", message));
        }
        Ok(())
    }

    /// Earn and cashback rules may only name tier levels the program has.
    fn check_tier_conditions(&self) -> Result<(), CompileError> {
        let levels = self.tiers.as_ref().map_or(&[][..], |tiers| &tiers.levels[..]);
        let earn = self.earn.rules.iter().enumerate().map(|(position, rule)| ("earn.rules", position, &rule.when));
        let cashback = self.cashback.iter().flat_map(|cashback| cashback.rules.iter().enumerate());
        let cashback = cashback.map(|(position, rule)| ("cashback.rules", position, &rule.when));
        for (section, position, when) in earn.chain(cashback) {
            if let Some(unknown) = when.tiers.iter().find(|tier| levels.iter().all(|level| level.id != **tier)) {
                let path = format!("{section}[{position}].when.tiers");
                return Err(CompileError::new(path, format!("`{unknown}` is not a level of `tiers`")));
            }
        }
        Ok(())
    }

    /// Each tier level's earn multiplier as a rule, by level.
    fn tier_multipliers(&self) -> Result<Vec<Option<CompiledRule>>, CompileError> {
        let levels = self.tiers.as_ref().map_or(&[][..], |tiers| &tiers.levels[..]);
        let mut rules = Vec::with_capacity(levels.len());
        for (position, level) in levels.iter().enumerate() {
            let multiplier = level.benefits.earn_multiplier.filter(|multiplier| multiplier.value() > Decimal::ONE);
            let rule = multiplier.map(|multiplier| CompiledRule::tier_multiplier(&level.id, multiplier));
            let rule = rule.transpose().map_err(|error| {
                CompileError::new(format!("tiers.levels[{position}].id"), format!("too long for a rule id: {error}"))
            })?;
            rules.push(rule);
        }
        Ok(rules)
    }
}

/// A fixed offset from UTC such as `"+03:00"`, written and read as text. (Zones with daylight
/// saving time are not supported yet: pick the offset the program's calendar should follow.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcOffset(pub FixedOffset);

impl Default for UtcOffset {
    fn default() -> UtcOffset {
        UtcOffset(FixedOffset::east_opt(0).expect("zero is a valid offset"))
    }
}

impl fmt::Display for UtcOffset {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, formatter)
    }
}

impl Serialize for UtcOffset {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for UtcOffset {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<UtcOffset, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        FixedOffset::from_str(&text)
            .map(UtcOffset)
            .map_err(|_| serde::de::Error::custom(format_args!("`{text}` is not a UTC offset such as \"+03:00\"")))
    }
}

/// A program definition that can't run, with the path of the offending field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct CompileError {
    /// Where, such as `earn.rules[3].funded_by`.
    pub path: String,
    /// What is wrong.
    pub problem: String,
}

impl CompileError {
    pub(crate) fn new(path: impl Into<String>, problem: impl Into<String>) -> CompileError {
        CompileError { path: path.into(), problem: problem.into() }
    }
}

/// Checks a list of names a section gives (causes, reasons): 1 to `limit` of them, each once.
pub(crate) fn check_listed_once(path: &str, names: &[Tag], limit: usize, noun: &str) -> Result<(), CompileError> {
    if names.is_empty() || names.len() > limit {
        return Err(CompileError::new(path, format!("must list 1 to {limit} {noun}, not {}", names.len())));
    }
    for (position, name) in names.iter().enumerate() {
        if names[..position].contains(name) {
            return Err(CompileError::new(format!("{path}[{position}]"), format!("`{name}` is listed twice")));
        }
    }
    Ok(())
}
