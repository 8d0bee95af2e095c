//! Order receipts: what an order earned, line by line, so that returns never recompute.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::amount::{Money, exact_decimal};
use crate::id::{FunderId, OrderId, RuleId, Sku, Tag};
use crate::ledger::lot::LotId;
use crate::ledger::posting::{Asset, is_points, points};

/// What one order earned and paid with points, and what has come back since.
///
/// A return is computed from the receipt alone, never from today's rules, tier or prices, so
/// it claws back exactly what the returned units earned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The order.
    pub order: OrderId,
    /// When it was placed.
    pub at: DateTime<Utc>,
    /// The lines, in the purchase's order.
    pub lines: Vec<ReceiptLine>,
    /// What each line earned, by rule and funder.
    pub earnings: Vec<Earning>,
    /// The cashback each line earned, by rule and funder, in the program currency.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cashback: Vec<Earning>,
    /// The lots the order opened are `first_lot .. first_lot + lot_count` (one per asset and
    /// funder).
    pub first_lot: LotId,
    /// How many lots the order opened.
    pub lot_count: u32,
    /// The points and cashback that paid for the order, by the funder and expiry of the lots
    /// they came from, in the order they were drained.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paid_with: Vec<PaidWith>,
    /// Spent points that returns of this order recovered by withholding money from refunds
    /// (policy `deduct_from_refund`), and the money withheld for them so far: kept as running
    /// totals so that rounding the money happens once, not once per return.
    #[serde(default, with = "exact_decimal", skip_serializing_if = "Decimal::is_zero")]
    pub withheld_points: Decimal,
    /// The money withheld so far, in the program currency.
    #[serde(default, skip_serializing_if = "is_zero_money")]
    pub withheld_money: Money,
    /// The member's tier level the order counts as placed at: the level when it was placed,
    /// lowered if a return later took away the level that it rested on. Earnings that needed a
    /// level the order no longer counts as placed at are clawed back in full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tag>,
    /// The coalition partner whose merchant sold the order; `None` when the owner sold it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<FunderId>,
    /// The stamps each line earned, by card.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stamps: Vec<StampEarning>,
}

fn is_zero_money(money: &Money) -> bool {
    money.value().is_zero()
}

/// One line of a receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptLine {
    /// What was bought.
    pub sku: Sku,
    /// Units bought.
    #[serde(with = "exact_decimal")]
    pub qty: Decimal,
    /// Units returned so far.
    #[serde(with = "exact_decimal")]
    pub returned_qty: Decimal,
    /// The line's price after its discount, before points paid.
    pub value: Money,
    /// Whether the line could earn (not excluded); only such lines count toward order minimums.
    pub eligible: bool,
    /// The share of the order's points payment that paid for this line.
    #[serde(with = "exact_decimal")]
    pub points_paid: Decimal,
    /// How much of `points_paid` returns have given back.
    #[serde(with = "exact_decimal")]
    pub points_paid_refunded: Decimal,
    /// The share of the order's cashback payment that paid for this line.
    #[serde(default, with = "exact_decimal", skip_serializing_if = "Decimal::is_zero")]
    pub cashback_paid: Decimal,
    /// How much of `cashback_paid` returns have given back.
    #[serde(default, with = "exact_decimal", skip_serializing_if = "Decimal::is_zero")]
    pub cashback_paid_refunded: Decimal,
}

/// What one rule earned on one line, paid by one funder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Earning {
    /// Index of the line in [`Receipt::lines`].
    pub line: u32,
    /// The rule.
    pub rule: RuleId,
    /// Who pays.
    pub funder: FunderId,
    /// Points earned.
    #[serde(with = "exact_decimal")]
    pub points: Decimal,
    /// Points clawed back so far.
    #[serde(with = "exact_decimal")]
    pub clawed_back: Decimal,
    /// The rule's order minimum when it earned: if returns take the kept order below it, the
    /// whole earning is clawed back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_order_total: Option<Money>,
    /// The tier level the earning needed (a tier's earn multiplier, a rule for some tiers): if
    /// a return takes that level away from the order ([`Receipt::tier`]), the whole earning is
    /// clawed back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tag>,
}

impl Earning {
    /// Whether the earning needed a tier level that the receipt no longer counts the order as
    /// placed at.
    pub(crate) fn lost_its_tier(&self, receipt_tier: Option<&Tag>) -> bool {
        self.tier.as_ref().is_some_and(|needed| Some(needed) != receipt_tier)
    }
}

/// Stamps one line earned on one card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StampEarning {
    /// Index of the line in [`Receipt::lines`].
    pub line: u32,
    /// The card.
    pub card: Tag,
    /// Stamps earned.
    pub stamps: u32,
    /// Stamps returns took back so far.
    pub taken_back: u32,
    /// Of the stamps earned, those that did not fit on a full card and expired (cards without
    /// carry-over). Returns take these back first.
    #[serde(default, skip_serializing_if = "is_zero_stamps")]
    pub lost: u32,
}

fn is_zero_stamps(stamps: &u32) -> bool {
    *stamps == 0
}

/// Points (or cashback) that paid for an order from one lot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaidWith {
    /// Points or cashback.
    #[serde(default = "points", skip_serializing_if = "is_points")]
    pub asset: Asset,
    /// The funder of the lots the points came from.
    pub funder: FunderId,
    /// How many points.
    #[serde(with = "exact_decimal")]
    pub points: Decimal,
    /// How many of them returns have given back.
    #[serde(with = "exact_decimal")]
    pub refunded: Decimal,
    /// When the lot they came from expires; points given back keep it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The lot the points were first earned in (through any returns that gave them back in
    /// between), so that a return of that order finds them when they come back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earned_in: Option<LotId>,
}

impl Receipt {
    /// Ids of the lots this order opened.
    pub fn lots(&self) -> impl Iterator<Item = LotId> + '_ {
        (0..u64::from(self.lot_count)).map(|offset| LotId(self.first_lot.0 + offset))
    }
}
