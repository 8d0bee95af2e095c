//! Lots: each accrual is a lot with its own vesting, expiry and funder.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::amount::stored_amount;
use crate::id::{FunderId, OrderId};
use crate::ledger::posting::{Account, Asset, is_points, points};

/// A lot's number, unique within one member's ledger and never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LotId(pub u64);

/// Which of the member's buckets a lot's points are in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// Earned, not spendable until `vests_at`.
    Pending,
    /// Spendable until `expires_at`.
    Available,
}

impl Bucket {
    /// The bucket an account holds lots in, if it holds any.
    pub(crate) fn of(account: &Account) -> Option<Bucket> {
        match account {
            Account::Pending => Some(Bucket::Pending),
            Account::Available => Some(Bucket::Available),
            _ => None,
        }
    }
}

/// Points (or cashback) earned together: by one order from one funder, or given back by one
/// return.
///
/// Redemption drains available lots soonest-expiring first (never-expiring last, older lots
/// first among equals). A return drains its own order's lots first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lot {
    /// The lot's number.
    pub id: LotId,
    /// What the lot holds: points, or cashback (money).
    #[serde(default = "points", skip_serializing_if = "is_points")]
    pub asset: Asset,
    /// Who pays for these points.
    pub funder: FunderId,
    /// The order that earned them, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderId>,
    /// When they were earned.
    pub earned_at: DateTime<Utc>,
    /// When they become available.
    pub vests_at: DateTime<Utc>,
    /// When what is left of them expires; `None` for never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Where the points are now.
    pub bucket: Bucket,
    /// How many points are left in the lot; for a lot of cashback, how much money (the lot's
    /// `asset` says which).
    #[serde(with = "stored_amount")]
    pub amount_points: Decimal,
    /// How many of the lot's points expired unused (cashback never expires). A return of the order claws these back from
    /// the expired account rather than treating them as spent.
    #[serde(default, with = "stored_amount", skip_serializing_if = "Decimal::is_zero")]
    pub expired_points: Decimal,
    /// For points a return gave back: the lot they were first earned in. A return of that lot's
    /// order takes them from here (or from what expired of them) before calling them spent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_of: Option<LotId>,
}

impl Lot {
    /// The order in which redemption drains available lots: soonest expiry first, never last,
    /// then the older lot.
    pub(crate) fn expiry_key(&self) -> (DateTime<Utc>, LotId) {
        (self.expires_at.unwrap_or(DateTime::<Utc>::MAX_UTC), self.id)
    }
}
