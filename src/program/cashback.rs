//! Cashback: a share of eligible spend paid back as money into the member's cashback wallet.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::amount::{Money, Ratio};
use crate::id::{FunderId, RuleId};
use crate::program::earn::{CompiledRule, Condition, Effect, RuleCaps, compile_funders};
use crate::program::{CalendarPeriod, CompileError, MAX_EARN_RULES, MAX_VESTING_DAYS};

/// Cashback: money back into the member's cashback wallet (the asset `cashback`, in the
/// program currency, apart from points).
///
/// Every eligible line earns each matching rule's `share` of its earning base (the line after
/// discounts, less its share of what points and cashback paid), rounded down to the currency's
/// places once per line. The order's cashback is then trimmed to `max_per_order` and to what is
/// left of `max_per_period` in the calendar period of the purchase (net of returns), spread
/// over its lines exactly. It stays pending for `vesting_days`, never expires, and pays for
/// later orders (`pay_with_cashback`) under `spending`. Returns claw it back line by line like
/// points, by the program's `returns.when_points_spent` policy when it was already spent
/// (withheld from a refund at face value).
///
/// ```json
/// {"rules": [{"id": "two-percent", "share": "0.02"}],
///  "vesting_days": 30, "max_per_order": "20.00",
///  "max_per_period": {"period": "month", "amount": "50.00"},
///  "spending": {"min_balance": "5.00", "max_share_of_order": "0.5"}}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cashback {
    /// The rules; their shares add up on a line.
    pub rules: Vec<CashbackRule>,
    /// Days cashback stays pending; set it to the return window or longer.
    #[serde(default)]
    pub vesting_days: u32,
    /// The most cashback one order earns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_order: Option<Money>,
    /// The most cashback a member earns in a calendar period, net of returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_period: Option<PeriodCap>,
    /// How cashback pays for orders; without it, cashback can't be spent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spending: Option<CashbackSpending>,
}

/// One cashback rule: which lines, what share, who pays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CashbackRule {
    /// Unique among the cashback rules; receipts name it.
    pub id: RuleId,
    /// Which lines it applies to, as for earn rules; empty matches every eligible line.
    #[serde(default)]
    pub when: Condition,
    /// The share of the line's earning base paid back, in (0, 1].
    pub share: Ratio,
    /// Who pays, as shares that sum to exactly one; empty means whoever sold.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub funded_by: BTreeMap<FunderId, Ratio>,
}

/// A cap per calendar period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodCap {
    /// The period, in the program's UTC offset.
    pub period: CalendarPeriod,
    /// The most per period.
    pub amount: Money,
}

/// How cashback pays for orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CashbackSpending {
    /// A member needs at least this much available cashback to spend any.
    #[serde(default)]
    pub min_balance: Money,
    /// The largest share of an order's value cashback may pay, in (0, 1].
    #[serde(default = "whole_order")]
    pub max_share_of_order: Ratio,
}

fn whole_order() -> Ratio {
    Ratio::new(Decimal::ONE)
}

impl Cashback {
    /// Checks the section and compiles its rules.
    pub(crate) fn compile(&self, money_decimal_places: u32) -> Result<Vec<CompiledRule>, CompileError> {
        if self.rules.len() > MAX_EARN_RULES {
            return Err(CompileError::new("cashback.rules", format!("more than {MAX_EARN_RULES} rules")));
        }
        if self.vesting_days > MAX_VESTING_DAYS {
            let message = format!("must be at most {MAX_VESTING_DAYS}");
            return Err(CompileError::new("cashback.vesting_days", message));
        }
        let caps = [
            ("max_per_order", self.max_per_order),
            ("max_per_period.amount", self.max_per_period.map(|cap| cap.amount)),
        ];
        for (field, cap) in caps {
            if cap.is_some_and(|cap| {
                cap.value() <= Decimal::ZERO || cap.value().normalize().scale() > money_decimal_places
            }) {
                return Err(CompileError::new(
                    format!("cashback.{field}"),
                    "must be a positive amount of the currency",
                ));
            }
        }
        if let Some(spending) = &self.spending {
            let share = spending.max_share_of_order.value();
            if share <= Decimal::ZERO || share > Decimal::ONE {
                return Err(CompileError::new(
                    "cashback.spending.max_share_of_order",
                    "must be more than 0 and at most 1",
                ));
            }
            if spending.min_balance.value() < Decimal::ZERO {
                return Err(CompileError::new("cashback.spending.min_balance", "must not be negative"));
            }
        }
        self.rules
            .iter()
            .enumerate()
            .map(|(position, rule)| compile_rule(rule, &self.rules[..position], position))
            .collect()
    }
}

fn compile_rule(rule: &CashbackRule, earlier: &[CashbackRule], position: usize) -> Result<CompiledRule, CompileError> {
    let path = format!("cashback.rules[{position}]");
    if let Some(first) = earlier.iter().position(|other| other.id == rule.id) {
        return Err(CompileError::new(format!("{path}.id"), format!("is also the id of cashback.rules[{first}]")));
    }
    rule.when.validate(&format!("{path}.when"))?;
    if rule.share.value() <= Decimal::ZERO || rule.share.value() > Decimal::ONE {
        return Err(CompileError::new(format!("{path}.share"), "must be more than 0 and at most 1"));
    }
    Ok(CompiledRule {
        id: rule.id.clone(),
        when: rule.when.sorted(),
        unconditional: rule.when == Condition::default(),
        effect: Effect::PointsPerCurrencyUnit(rule.share),
        funders: compile_funders(&rule.funded_by, &format!("{path}.funded_by"))?,
        tier_bound: !rule.when.tiers.is_empty(),
        // Cashback has caps of its own: per order and per period, over all its rules.
        caps: RuleCaps::default(),
    })
}
