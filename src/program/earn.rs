//! Earn rules: which lines earn how many points, and who pays for them.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::amount::{Money, Points, Ratio};
use crate::event::{Purchase, PurchaseLine};
use crate::id::{FunderId, IdError, RuleId, Sku, Tag};
use crate::id_hash::IdMap;
use crate::program::{CalendarPeriod, CompileError};

/// The most earn rules a program may have.
pub const MAX_EARN_RULES: usize = 100_000;
/// The most values one condition list (SKUs, categories, ...) may hold.
pub const MAX_CONDITION_VALUES: usize = 10_000;
/// The most funders one rule may split its cost between; also the most funder shares all
/// birthday [`Bonus`](crate::Bonus)es may have together (one for a bonus the owner pays).
pub const MAX_FUNDERS_PER_RULE: usize = 16;
/// The most exclusions a program may have.
pub const MAX_EXCLUSIONS: usize = 1_000;
/// How the ids of the rules that tiers' earn multipliers work as start (`tier:gold`); earn
/// rules' ids may not.
const TIER_RULE_PREFIX: &str = "tier:";

/// How purchases earn points.
///
/// Every line that no exclusion matches is offered to every rule; each rule whose condition
/// matches adds its points (rules stack additively). A line's points are the sum of its rules'
/// raw points, rounded once with the program's rounding, then split back over rules and
/// funders exactly (largest remainder).
///
/// ```json
/// {"exclude": [{"categories": ["delivery", "gift_card"]}],
///  "rules": [{"id": "base", "effect": {"points_per_currency_unit": "0.1"}}]}
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Earn {
    /// Lines that earn nothing (delivery, gift cards); they also don't count toward order
    /// minimums. Exclusions may only use line conditions (SKUs, categories, labels, suppliers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<Condition>,
    /// The rules, in the order they are evaluated and reported.
    #[serde(default)]
    pub rules: Vec<EarnRule>,
}

/// One earn rule: a condition, an effect and who pays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarnRule {
    /// Unique within the program; receipts name it.
    pub id: RuleId,
    /// Which lines it applies to; empty matches every eligible line.
    #[serde(default)]
    pub when: Condition,
    /// How many points it gives.
    pub effect: Effect,
    /// Who pays, as shares that sum to exactly one. Empty means whoever sold: the
    /// [partner](crate::Partner) whose merchant sold the order, else the program's owner.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub funded_by: BTreeMap<FunderId, Ratio>,
    /// The most points the rule gives one order, over all its lines and funders: beyond it,
    /// the rule's raw points on each line are scaled down, and each line is rounded once from
    /// what it keeps, never taking the rule past this (a whole number of points; not for
    /// `points_per_order` rules, which give a fixed amount).
    /// It limits this rule's own points: a multiplier rule multiplies the rate points before
    /// any cap, and has a cap of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_points_per_order: Option<Points>,
    /// The most points the rule gives one member in a calendar period, net of returns: an
    /// order gets what is left of it, scaled down as for `max_points_per_order` (a return
    /// gives room back to the period's later orders; it gives no points back to earlier ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_points_per_period: Option<PointsPeriodCap>,
    /// What the rule gives an order that would take it past a cap: what the cap leaves
    /// (`trim`, the default) or nothing (`reject`). Only for a rule with a cap.
    #[serde(default, skip_serializing_if = "OverCap::is_trim")]
    pub over_cap: OverCap,
}

/// What a capped earn rule gives an order that would take it past its cap.
///
/// In JSON: `"trim"` or `"reject"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverCap {
    /// What the cap leaves: the rule's raw points scaled down to it.
    #[default]
    Trim,
    /// Nothing: the rule gives the order none of its points ("300 bonus points an order, for
    /// at most two orders a month"), judged on what it would give the order alone, each line
    /// rounded; an order within the cap gets at most that. The order's other rules earn as
    /// usual.
    Reject,
}

impl OverCap {
    fn is_trim(&self) -> bool {
        *self == OverCap::Trim
    }
}

/// A most per calendar period, in points.
///
/// ```json
/// {"period": "month", "points": "1000"}
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointsPeriodCap {
    /// The period, in the program's UTC offset.
    pub period: CalendarPeriod,
    /// The most points per period, a whole number of the program's points.
    pub points: Points,
}

/// What a rule gives a line it matches.
///
/// In JSON, one key: `{"points_per_currency_unit": "0.1"}`, `{"multiplier": "2"}`,
/// `{"points_per_unit": "5"}` or `{"points_per_order": "300"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Effect {
    /// Points per unit of currency of the line's earning base (price after discounts, less the
    /// part paid with points).
    PointsPerCurrencyUnit(Ratio),
    /// Multiplies what the line earns from `points_per_currency_unit` rules: a multiplier of
    /// `m` adds `(m - 1)` times those points, so multipliers stack additively (2x and 3x on
    /// one line give 4x). More than 1.
    Multiplier(Ratio),
    /// Fixed points per unit bought.
    PointsPerUnit(Ratio),
    /// Fixed points once per order when any line matches, spread over the matching lines by
    /// value so that a return claws back the share of the lines it returns. With
    /// `min_order_total` this is the "spend 2,000, get 300" bonus, clawed back in full when a
    /// return takes the kept order below the minimum. A whole number of the program's points.
    PointsPerOrder(Ratio),
}

/// When a rule applies. Every field given must match (and); within a list, any value matches
/// (or). An empty condition matches everything.
///
/// Line conditions: `skus`, `categories`, `labels` (every key must have that value),
/// `suppliers`. Order conditions: `merchants`, `channels`, `min_order_total` (the sum of the
/// order's eligible lines after discounts, before points), the window `from` (inclusive)
/// to `until` (exclusive), `tiers` (the member's tier level when the order is placed),
/// `segments` (the purchase names one of them, or it is the member's running membership plan)
/// and `birthday` (the order is placed around the
/// member's birthday).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The line's SKU is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skus: Vec<Sku>,
    /// The line's category is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<Tag>,
    /// The line has every one of these labels with this value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<Tag, Tag>,
    /// The line's supplier is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppliers: Vec<Tag>,
    /// The order's merchant is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merchants: Vec<Tag>,
    /// The order's channel is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<Tag>,
    /// The order's eligible total is at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_order_total: Option<Money>,
    /// The order is placed at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// The order is placed before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// The member's tier level is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<Tag>,
    /// The purchase names one of these among its [`segments`](crate::Purchase::segments) (the
    /// groups the host puts the member in: staff, students), or one of them is the
    /// [membership plan](crate::MembershipPlan) that runs for the member.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Tag>,
    /// The order is placed around the member's birthday (as the member's `enroll` gave it); a
    /// member with no birthday on record never matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<BirthdayWindow>,
}

/// When an order counts as placed around the member's birthday, by the order's date in the
/// program's UTC offset (29 February is 28 February in other years).
///
/// In JSON: `"month"` or `{"within_days": 7}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BirthdayWindow {
    /// In the calendar month of the birthday.
    Month,
    /// At most this many days before or after the birthday (0: on the day), up to
    /// [`MAX_BIRTHDAY_WINDOW_DAYS`].
    WithinDays(u32),
}

/// The widest [`BirthdayWindow::WithinDays`]: half a year either side covers every day.
pub const MAX_BIRTHDAY_WINDOW_DAYS: u32 = 183;

/// How an order's date stands to the member's birthday, worked out once per order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BirthdayFit {
    /// Days between the order's date and the nearest birthday.
    pub(crate) days_away: u32,
    /// Whether the order's month is the birthday's.
    pub(crate) same_month: bool,
}

impl BirthdayWindow {
    fn admits(self, fit: Option<BirthdayFit>) -> bool {
        fit.is_some_and(|fit| match self {
            BirthdayWindow::Month => fit.same_month,
            BirthdayWindow::WithinDays(days) => fit.days_away <= days,
        })
    }
}

impl Condition {
    /// Whether the condition's line fields match. Needs the lists sorted ([`Condition::sorted`]).
    pub(crate) fn matches_line(&self, line: &PurchaseLine) -> bool {
        (self.skus.is_empty() || self.skus.binary_search(&line.sku).is_ok())
            && one_of(&self.categories, line.category.as_ref())
            && self.labels.iter().all(|(key, value)| line.labels.get(key) == Some(value))
            && one_of(&self.suppliers, line.supplier.as_ref())
    }

    /// Whether the condition's order fields match. Needs the lists sorted. `plan` is the paid
    /// membership plan that runs for the member, a segment the purchase need not name.
    pub(crate) fn matches_order(
        &self,
        purchase: &Purchase,
        eligible_total: Decimal,
        tier: Option<&Tag>,
        birthday: Option<BirthdayFit>,
        plan: Option<&Tag>,
    ) -> bool {
        one_of(&self.tiers, tier)
            && self.birthday.is_none_or(|window| window.admits(birthday))
            && one_of(&self.merchants, purchase.merchant.as_ref())
            && one_of(&self.channels, purchase.channel.as_ref())
            && (self.segments.is_empty()
                || plan.into_iter().chain(&purchase.segments).any(|segment| one_of(&self.segments, Some(segment))))
            && self.min_order_total.is_none_or(|minimum| eligible_total >= minimum.value())
            && self.from.is_none_or(|from| purchase.at >= from)
            && self.until.is_none_or(|until| purchase.at < until)
    }

    /// The same condition with every list sorted and without repeats, for binary search.
    pub(crate) fn sorted(&self) -> Condition {
        fn sorted<T: Ord + Clone>(values: &[T]) -> Vec<T> {
            let mut values = values.to_vec();
            values.sort_unstable();
            values.dedup();
            values
        }
        Condition {
            skus: sorted(&self.skus),
            categories: sorted(&self.categories),
            suppliers: sorted(&self.suppliers),
            merchants: sorted(&self.merchants),
            channels: sorted(&self.channels),
            tiers: sorted(&self.tiers),
            segments: sorted(&self.segments),
            ..self.clone()
        }
    }

    fn has_order_conditions(&self) -> bool {
        !self.merchants.is_empty()
            || !self.channels.is_empty()
            || !self.tiers.is_empty()
            || !self.segments.is_empty()
            || self.min_order_total.is_some()
            || self.from.is_some()
            || self.until.is_some()
            || self.birthday.is_some()
    }

    pub(crate) fn validate(&self, path: &str) -> Result<(), CompileError> {
        let lists = [
            ("skus", self.skus.len()),
            ("categories", self.categories.len()),
            ("labels", self.labels.len()),
            ("suppliers", self.suppliers.len()),
            ("merchants", self.merchants.len()),
            ("channels", self.channels.len()),
            ("tiers", self.tiers.len()),
            ("segments", self.segments.len()),
        ];
        for (field, length) in lists {
            if length > MAX_CONDITION_VALUES {
                return Err(CompileError::new(
                    format!("{path}.{field}"),
                    format!("has {length} values, more than the limit of {MAX_CONDITION_VALUES}"),
                ));
            }
        }
        if self.min_order_total.is_some_and(|minimum| minimum.value() <= Decimal::ZERO) {
            return Err(CompileError::new(format!("{path}.min_order_total"), "must be positive"));
        }
        if let (Some(from), Some(until)) = (self.from, self.until) {
            if from >= until {
                return Err(CompileError::new(format!("{path}.until"), "must be later than `from`"));
            }
        }
        if let Some(BirthdayWindow::WithinDays(days)) = self.birthday {
            if days > MAX_BIRTHDAY_WINDOW_DAYS {
                let problem = format!("must be at most {MAX_BIRTHDAY_WINDOW_DAYS}, not {days}");
                return Err(CompileError::new(format!("{path}.birthday.within_days"), problem));
            }
        }
        Ok(())
    }
}

/// An empty list allows anything; otherwise the value must be given and listed.
fn one_of(sorted_values: &[Tag], value: Option<&Tag>) -> bool {
    sorted_values.is_empty() || value.is_some_and(|value| sorted_values.binary_search(value).is_ok())
}

/// A rule ready to evaluate: condition lists sorted, shares resolved to funders.
#[derive(Debug)]
pub(crate) struct CompiledRule {
    pub(crate) id: RuleId,
    pub(crate) when: Condition,
    /// The condition is empty: the rule matches every eligible line without looking.
    pub(crate) unconditional: bool,
    pub(crate) effect: Effect,
    /// Empty when the seller pays.
    pub(crate) funders: Vec<(FunderId, Decimal)>,
    /// Whether what it gives depends on the member's tier (a tier's multiplier, a rule for some
    /// tiers), so that a return that takes the tier away takes it back.
    pub(crate) tier_bound: bool,
    /// The most points it gives one order, and one member in a period.
    pub(crate) caps: RuleCaps,
}

/// What an earn rule gives at most.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RuleCaps {
    pub(crate) per_order: Option<Decimal>,
    pub(crate) per_period: Option<(CalendarPeriod, Decimal)>,
    /// Whether an order over a cap gets none of the rule's points rather than what the cap leaves.
    pub(crate) reject: bool,
}

impl CompiledRule {
    /// Whether the rule applies to `line` of `purchase`.
    pub(crate) fn matches(
        &self,
        line: &PurchaseLine,
        purchase: &Purchase,
        eligible_total: Decimal,
        tier: Option<&Tag>,
        birthday: Option<BirthdayFit>,
        plan: Option<&Tag>,
    ) -> bool {
        self.unconditional
            || (self.when.matches_line(line) && self.when.matches_order(purchase, eligible_total, tier, birthday, plan))
    }

    /// The rule a tier's earn multiplier works as: `tier:LEVEL` ([`TIER_RULE_PREFIX`]), on every
    /// line, paid by the seller.
    pub(crate) fn tier_multiplier(level: &Tag, multiplier: Ratio) -> Result<CompiledRule, IdError> {
        Ok(CompiledRule {
            id: RuleId::new(&format!("{TIER_RULE_PREFIX}{level}"))?,
            when: Condition::default(),
            unconditional: true,
            effect: Effect::Multiplier(multiplier),
            funders: Vec::new(),
            tier_bound: true,
            caps: RuleCaps::default(),
        })
    }
}

/// Rules indexed by what a line can be looked up by, so that evaluation touches only the rules
/// that can match a line, however many the program has. Each rule sits in exactly one place:
/// under its SKUs if it names any, else its categories, else its first label, else among the
/// general rules; so the candidate lists of one line never overlap.
#[derive(Debug, Default)]
pub(crate) struct RuleIndex {
    pub(crate) rules: Vec<CompiledRule>,
    /// Rules that give points per order, evaluated once per order rather than per line.
    pub(crate) per_order: Vec<u32>,
    /// Whether any rule is a multiplier, so that lines of programs without one skip looking.
    pub(crate) has_multipliers: bool,
    /// The caps of the rules that have any, applied once the order's lines have earned; by id,
    /// as earnings name their rule.
    pub(crate) caps: IdMap<RuleId, RuleCaps>,
    general: Vec<u32>,
    by_sku: IdMap<Sku, Vec<u32>>,
    by_category: IdMap<Tag, Vec<u32>>,
    by_label: IdMap<Tag, IdMap<Tag, Vec<u32>>>,
    pub(crate) exclusions: Vec<Condition>,
}

impl RuleIndex {
    pub(crate) fn compile(earn: &Earn, decimal_places: u32) -> Result<RuleIndex, CompileError> {
        if earn.rules.len() > MAX_EARN_RULES {
            let message = format!("has {} rules, more than the limit of {MAX_EARN_RULES}", earn.rules.len());
            return Err(CompileError::new("earn.rules", message));
        }
        if earn.exclude.len() > MAX_EXCLUSIONS {
            let message = format!("has {} exclusions, more than the limit of {MAX_EXCLUSIONS}", earn.exclude.len());
            return Err(CompileError::new("earn.exclude", message));
        }
        for (position, exclusion) in earn.exclude.iter().enumerate() {
            let path = format!("earn.exclude[{position}]");
            exclusion.validate(&path)?;
            if exclusion.has_order_conditions() {
                return Err(CompileError::new(
                    path,
                    "exclusions match lines: use skus, categories, labels or suppliers",
                ));
            }
        }
        let exclusions = earn.exclude.iter().map(Condition::sorted).collect();
        let mut index = RuleIndex { exclusions, ..RuleIndex::default() };
        let mut seen = HashMap::new();
        for (position, rule) in earn.rules.iter().enumerate() {
            let path = format!("earn.rules[{position}]");
            if let Some(first) = seen.insert(rule.id.clone(), position) {
                return Err(CompileError::new(
                    format!("{path}.id"),
                    format!("`{}` is also the id of earn.rules[{first}]", rule.id),
                ));
            }
            // Receipts name a tier's earn multiplier `tier:LEVEL`; a rule of that name would be
            // told apart from it only by the earning's tier.
            if rule.id.as_str().starts_with(TIER_RULE_PREFIX) {
                let message = format!("`{TIER_RULE_PREFIX}` starts the ids of tiers' earn multipliers");
                return Err(CompileError::new(format!("{path}.id"), message));
            }
            let compiled = compile_rule(rule, decimal_places, &path)?;
            index.insert(compiled);
        }
        Ok(index)
    }

    fn insert(&mut self, rule: CompiledRule) {
        let position = u32::try_from(self.rules.len()).expect("rule count is limited far below u32::MAX");
        self.has_multipliers |= matches!(rule.effect, Effect::Multiplier(_));
        if rule.caps.per_order.is_some() || rule.caps.per_period.is_some() {
            self.caps.insert(rule.id.clone(), rule.caps);
        }
        if matches!(rule.effect, Effect::PointsPerOrder(_)) {
            self.per_order.push(position);
        } else if !rule.when.skus.is_empty() {
            for sku in &rule.when.skus {
                self.by_sku.entry(sku.clone()).or_default().push(position);
            }
        } else if !rule.when.categories.is_empty() {
            for category in &rule.when.categories {
                self.by_category.entry(category.clone()).or_default().push(position);
            }
        } else if let Some((key, value)) = rule.when.labels.iter().next() {
            let by_value = self.by_label.entry(key.clone()).or_default();
            by_value.entry(value.clone()).or_default().push(position);
        } else {
            self.general.push(position);
        }
        self.rules.push(rule);
    }

    pub(crate) fn is_excluded(&self, line: &PurchaseLine) -> bool {
        self.exclusions.iter().any(|exclusion| exclusion.matches_line(line))
    }

    /// The rules that may match `line`, in program order, each once.
    pub(crate) fn candidates<'a>(&'a self, line: &PurchaseLine, scratch: &'a mut Vec<u32>) -> &'a [u32] {
        let empty: &[u32] = &[];
        let by_sku = self.by_sku.get(&line.sku).map_or(empty, Vec::as_slice);
        let by_category =
            line.category.as_ref().and_then(|category| self.by_category.get(category)).map_or(empty, Vec::as_slice);
        let has_labels = !self.by_label.is_empty() && !line.labels.is_empty();
        if !has_labels {
            match (self.general.is_empty(), by_sku.is_empty(), by_category.is_empty()) {
                (_, true, true) => return &self.general,
                (true, false, true) => return by_sku,
                (true, true, false) => return by_category,
                _ => {}
            }
        }
        scratch.clear();
        scratch.extend_from_slice(&self.general);
        scratch.extend_from_slice(by_sku);
        scratch.extend_from_slice(by_category);
        for (key, value) in &line.labels {
            let listed = self.by_label.get(key).and_then(|by_value| by_value.get(value));
            scratch.extend_from_slice(listed.map_or(empty, Vec::as_slice));
        }
        scratch.sort_unstable();
        scratch
    }
}

fn compile_rule(rule: &EarnRule, decimal_places: u32, path: &str) -> Result<CompiledRule, CompileError> {
    rule.when.validate(&format!("{path}.when"))?;
    let (name, value, minimum) = match rule.effect {
        Effect::PointsPerCurrencyUnit(rate) => ("points_per_currency_unit", rate.value(), Decimal::ZERO),
        Effect::Multiplier(multiplier) => ("multiplier", multiplier.value(), Decimal::ONE),
        Effect::PointsPerUnit(points) => ("points_per_unit", points.value(), Decimal::ZERO),
        Effect::PointsPerOrder(points) => ("points_per_order", points.value(), Decimal::ZERO),
    };
    let effect_path = format!("{path}.effect.{name}");
    if value <= minimum {
        return Err(CompileError::new(effect_path, format!("must be more than {minimum}")));
    }
    if name == "points_per_order" && value.normalize().scale() > decimal_places {
        let problem = format!("must be a whole number of points at {decimal_places} decimal places");
        return Err(CompileError::new(effect_path, problem));
    }
    if name == "points_per_order" && rule.max_points_per_order.is_some() {
        let problem = "a points_per_order rule gives a fixed amount: lower it instead";
        return Err(CompileError::new(format!("{path}.max_points_per_order"), problem));
    }
    let caps = [
        ("max_points_per_order", rule.max_points_per_order),
        ("max_points_per_period.points", rule.max_points_per_period.map(|cap| cap.points)),
    ];
    for (field, cap) in caps {
        if cap.is_some_and(|cap| cap.value() <= Decimal::ZERO || cap.value().normalize().scale() > decimal_places) {
            let problem = format!("must be a positive whole number of points at {decimal_places} decimal places");
            return Err(CompileError::new(format!("{path}.{field}"), problem));
        }
    }
    if rule.over_cap == OverCap::Reject && rule.max_points_per_order.is_none() && rule.max_points_per_period.is_none() {
        let problem = "a rule without max_points_per_order or max_points_per_period has no cap to reject over";
        return Err(CompileError::new(format!("{path}.over_cap"), problem));
    }
    let caps = RuleCaps {
        per_order: rule.max_points_per_order.map(|cap| cap.value()),
        per_period: rule.max_points_per_period.map(|cap| (cap.period, cap.points.value())),
        reject: rule.over_cap == OverCap::Reject,
    };
    Ok(CompiledRule {
        id: rule.id.clone(),
        when: rule.when.sorted(),
        unconditional: rule.when == Condition::default(),
        effect: rule.effect,
        funders: compile_funders(&rule.funded_by, &format!("{path}.funded_by"))?,
        tier_bound: !rule.when.tiers.is_empty(),
        caps,
    })
}

/// Shares checked to sum to one; empty (the seller pays) when none are given.
pub(crate) fn compile_funders(
    funded_by: &BTreeMap<FunderId, Ratio>,
    path: &str,
) -> Result<Vec<(FunderId, Decimal)>, CompileError> {
    if funded_by.is_empty() {
        return Ok(Vec::new());
    }
    if funded_by.len() > MAX_FUNDERS_PER_RULE {
        return Err(CompileError::new(path, format!("names more than {MAX_FUNDERS_PER_RULE} funders")));
    }
    let mut total = Decimal::ZERO;
    for (funder, share) in funded_by {
        if share.value() <= Decimal::ZERO || share.value() > Decimal::ONE {
            return Err(CompileError::new(format!("{path}.{funder}"), "a share must be more than 0 and at most 1"));
        }
        total += share.value();
    }
    if total != Decimal::ONE {
        return Err(CompileError::new(path, format!("shares sum to {total}, not exactly 1")));
    }
    Ok(funded_by.iter().map(|(funder, share)| (funder.clone(), share.value())).collect())
}
