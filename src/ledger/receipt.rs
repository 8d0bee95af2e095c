//! Order receipts: what an order earned, line by line, so that returns never recompute.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::amount::{Money, stored_amount, stored_total};
use crate::id::{FunderId, OrderId, RuleId, Sku, Tag};
use crate::ledger::lot::LotId;
use crate::ledger::posting::{Asset, is_points, points};

/// What one order earned and paid with points, and what has come back since.
///
/// A return is computed from the receipt alone, never from today's rules, tier or prices, so
/// it claws back exactly what the returned units earned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ReceiptRecord")]
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cashback: Vec<Earning>,
    /// The lots the order opened are `first_lot .. first_lot + lot_count` (one per asset and
    /// funder).
    pub first_lot: LotId,
    /// How many lots the order opened.
    pub lot_count: u32,
    /// How points and cashback paid for the order, if they did; most orders are paid in money
    /// alone, so this is boxed and their receipts pay one pointer for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<Box<Payment>>,
    /// Spent points that returns of this order recovered by withholding money from refunds
    /// (policy `deduct_from_refund`), and the money withheld for them so far: kept as running
    /// totals so that rounding the money happens once, not once per return.
    #[serde(with = "stored_total", skip_serializing_if = "Decimal::is_zero")]
    pub withheld_points: Decimal,
    /// The money withheld so far, in the program currency.
    #[serde(with = "stored_total", skip_serializing_if = "is_zero_money")]
    pub withheld_money: Money,
    /// The member's tier level the order counts as placed at: the level when it was placed,
    /// lowered if a return later took away the level that it rested on. Earnings that needed a
    /// level the order no longer counts as placed at are clawed back in full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tag>,
    /// The coalition partner whose merchant sold the order; `None` when the owner sold it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner: Option<FunderId>,
    /// The stamps each line earned, by card.
    #[serde(skip_serializing_if = "Vec::is_empty")]
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
    #[serde(with = "stored_amount")]
    pub qty: Decimal,
    /// Units returned so far.
    #[serde(with = "stored_amount")]
    pub returned_qty: Decimal,
    /// The line's total in the program currency: quantity times unit price, less its discount,
    /// before points paid.
    #[serde(with = "stored_amount")]
    pub value: Money,
    /// Whether the line could earn (not excluded); only such lines count toward order minimums.
    pub eligible: bool,
}

/// How points and cashback paid for an order, and what returns have given back of them.
///
/// A return gives back each line's share of the payment in proportion to the units returned,
/// into lots that keep the expiry of the lots the payment came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// The points and cashback that paid, by the funder and expiry of the lots they came from,
    /// in the order they were drained.
    pub paid_with: Vec<PaidWith>,
    /// Each line's share of the payment, in the order of [`Receipt::lines`].
    pub lines: Vec<LinePayment>,
}

/// One line's share of what points and cashback paid for its order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinePayment {
    /// The points that paid for this line.
    #[serde(default, with = "stored_amount", skip_serializing_if = "Decimal::is_zero")]
    pub points: Decimal,
    /// How many of `points` returns have given back.
    #[serde(default, with = "stored_amount", skip_serializing_if = "Decimal::is_zero")]
    pub points_refunded: Decimal,
    /// The cashback that paid for this line, in the program currency.
    #[serde(default, with = "stored_amount", skip_serializing_if = "Decimal::is_zero")]
    pub cashback: Decimal,
    /// How much of `cashback` returns have given back.
    #[serde(default, with = "stored_amount", skip_serializing_if = "Decimal::is_zero")]
    pub cashback_refunded: Decimal,
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
    /// Points earned; for an earning in [`Receipt::cashback`], the cashback earned, in the
    /// program currency.
    #[serde(with = "stored_amount")]
    pub points: Decimal,
    /// Points clawed back so far. A return that revokes another earning of the line may lower
    /// it by the unit of rounding this one took while the other stood.
    #[serde(with = "stored_amount")]
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
    /// Whether a return takes the whole earning back: the eligible units the member keeps are
    /// worth less than the rule's order minimum (`kept_total`), or the earning needed a tier
    /// level that the receipt no longer counts the order as placed at.
    pub(crate) fn revoked(&self, kept_total: Decimal, receipt_tier: Option<&Tag>) -> bool {
        below_minimum(self.min_order_total, kept_total)
            || self.tier.as_ref().is_some_and(|needed| Some(needed) != receipt_tier)
    }
}

fn below_minimum(min_order_total: Option<Money>, kept_total: Decimal) -> bool {
    min_order_total.is_some_and(|minimum| kept_total < minimum.value())
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
    /// carry-over). Returns of any of the order's units take the order's lost stamps on the
    /// card back first.
    #[serde(default, skip_serializing_if = "is_zero_stamps")]
    pub lost: u32,
    /// The card's order minimum when the stamps were earned: if returns take the kept order
    /// below it, every stamp goes back, as an [`Earning`] does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_order_total: Option<Money>,
}

impl StampEarning {
    /// Whether a return takes every stamp back: the eligible units the member keeps are worth
    /// less than the card's order minimum (`kept_total`).
    pub(crate) fn revoked(&self, kept_total: Decimal) -> bool {
        below_minimum(self.min_order_total, kept_total)
    }
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
    /// How many points; for cashback (the `asset`), how much money.
    #[serde(with = "stored_amount")]
    pub points: Decimal,
    /// How many of them returns have given back.
    #[serde(with = "stored_amount")]
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

/// How a receipt is read: as written now, or as 0.1.0 wrote it, with each line's share of the
/// payment on the line and `paid_with` on the receipt, so that states and outcomes stored by
/// 0.1.0 keep what paid for their orders.
#[derive(Deserialize)]
struct ReceiptRecord {
    order: OrderId,
    at: DateTime<Utc>,
    lines: Vec<LineRecord>,
    earnings: Vec<Earning>,
    #[serde(default)]
    cashback: Vec<Earning>,
    first_lot: LotId,
    lot_count: u32,
    #[serde(default)]
    payment: Option<Box<Payment>>,
    #[serde(default)]
    paid_with: Vec<PaidWith>,
    #[serde(default, with = "stored_total")]
    withheld_points: Decimal,
    #[serde(default, with = "stored_total")]
    withheld_money: Money,
    #[serde(default)]
    tier: Option<Tag>,
    #[serde(default)]
    partner: Option<FunderId>,
    #[serde(default)]
    stamps: Vec<StampEarning>,
}

/// How a receipt line is read: with the share of the payment that 0.1.0 kept on the line.
#[derive(Deserialize)]
struct LineRecord {
    sku: Sku,
    #[serde(with = "stored_amount")]
    qty: Decimal,
    #[serde(with = "stored_amount")]
    returned_qty: Decimal,
    #[serde(with = "stored_amount")]
    value: Money,
    eligible: bool,
    #[serde(default, with = "stored_amount")]
    points_paid: Decimal,
    #[serde(default, with = "stored_amount")]
    points_paid_refunded: Decimal,
    #[serde(default, with = "stored_amount")]
    cashback_paid: Decimal,
    #[serde(default, with = "stored_amount")]
    cashback_paid_refunded: Decimal,
}

impl TryFrom<ReceiptRecord> for Receipt {
    type Error = String;

    fn try_from(record: ReceiptRecord) -> Result<Receipt, String> {
        let mut shares = Vec::with_capacity(record.lines.len());
        let mut lines = Vec::with_capacity(record.lines.len());
        for line in record.lines {
            shares.push(LinePayment {
                points: line.points_paid,
                points_refunded: line.points_paid_refunded,
                cashback: line.cashback_paid,
                cashback_refunded: line.cashback_paid_refunded,
            });
            let LineRecord { sku, qty, returned_qty, value, eligible, .. } = line;
            lines.push(ReceiptLine { sku, qty, returned_qty, value, eligible });
        }
        // The old form wrote `paid_with` for orders paid with points or cashback, and zero
        // shares on every line; anything else in it would be lost, so it is refused.
        let legacy_shares = shares.iter().any(|share| *share != LinePayment::default());
        let payment = match (record.payment, record.paid_with.is_empty()) {
            (Some(payment), true) if !legacy_shares => Some(payment),
            (None, false) => Some(Box::new(Payment { paid_with: record.paid_with, lines: shares })),
            (None, true) if !legacy_shares => None,
            _ => return Err(format!("order {} mixes the old and new forms of its payment", record.order)),
        };
        Ok(Receipt {
            order: record.order,
            at: record.at,
            lines,
            earnings: record.earnings,
            cashback: record.cashback,
            first_lot: record.first_lot,
            lot_count: record.lot_count,
            payment,
            withheld_points: record.withheld_points,
            withheld_money: record.withheld_money,
            tier: record.tier,
            partner: record.partner,
            stamps: record.stamps,
        })
    }
}
