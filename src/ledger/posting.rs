//! Accounts, assets and postings: the double-entry core.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::amount::stored_amount;
use crate::id::{EventId, FunderId, Tag};
use crate::ledger::lot::LotId;

/// An account of one member's ledger. Postings move value between two accounts, so every
/// asset sums to zero over all accounts, always.
///
/// The member's own buckets are [`Pending`](Account::Pending), [`Available`](Account::Available)
/// and [`Debt`](Account::Debt); the others are counterparties: who pays for accruals
/// ([`Funder`](Account::Funder)) and where spent, donated, transferred, expired, bought-back or
/// forgiven points go.
///
/// Accounts print and parse as short strings: `pending`, `available`, `debt`, `redeemed`,
/// `expired`, `refund_withheld`, `forgiven`, `transfers`, `funder:ID`, `settlement:ID` and
/// `donated:CAUSE`.
///
/// ```
/// use loyalty_engine::{Account, FunderId};
/// let account: Account = "funder:acme".parse().unwrap();
/// assert_eq!(account, Account::Funder(FunderId::new("acme").unwrap()));
/// assert_eq!(Account::Pending.to_string(), "pending");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Account {
    /// Earned but not yet spendable: waiting for the return window to close.
    Pending,
    /// Spendable.
    Available,
    /// What the member owes after a return clawed back points (or cashback) that were already
    /// spent: under `negative_balance`, and under `deduct_from_refund` for what the refund
    /// could not cover. A negative balance, repaid first from what becomes available later.
    Debt,
    /// Whoever pays for accruals. A funder's balance is minus its outstanding cost.
    Funder(FunderId),
    /// Points spent, on an order or a reward.
    Redeemed,
    /// Points that expired unused.
    Expired,
    /// Spent points (or cashback) bought back with money withheld from a refund (policy
    /// `deduct_from_refund`); a negative balance, like `debt`.
    RefundWithheld,
    /// Spent points of returned orders that the program forgave (policy `stop_at_zero`); a
    /// negative balance, settled first from points given back when a later return undoes the
    /// spending.
    Forgiven,
    /// What a funder owes other funders (negative) or is owed by them (positive) for points
    /// one paid for and another honoured: a coalition's settlement, in the posting's asset
    /// (points or cashback).
    Settlement(FunderId),
    /// Points the member gave to a cause (a `donate` event); the program's owner honours them.
    Donated(Tag),
    /// Points on their way between members: a `transfer` moves them here from the sender's
    /// available lots, and its follow-up moves them out into the recipient's. Positive in the
    /// sender's books and negative in the recipient's, so zero over the program once both are
    /// applied.
    Transfers,
}

impl fmt::Display for Account {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Account::Pending => "pending",
            Account::Available => "available",
            Account::Debt => "debt",
            Account::Funder(funder) => return formatter.pad(&format!("funder:{funder}")),
            Account::Settlement(funder) => return formatter.pad(&format!("settlement:{funder}")),
            Account::Donated(cause) => return formatter.pad(&format!("donated:{cause}")),
            Account::Redeemed => "redeemed",
            Account::Expired => "expired",
            Account::RefundWithheld => "refund_withheld",
            Account::Forgiven => "forgiven",
            Account::Transfers => "transfers",
        };
        formatter.pad(name)
    }
}

/// The text was not an account name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not an account (pending, available, debt, redeemed, expired, refund_withheld, forgiven, transfers, funder:ID, settlement:ID or donated:CAUSE)"
)]
pub struct AccountParseError(String);

impl FromStr for Account {
    type Err = AccountParseError;

    fn from_str(text: &str) -> Result<Account, AccountParseError> {
        let account = match text {
            "pending" => Account::Pending,
            "available" => Account::Available,
            "debt" => Account::Debt,
            "redeemed" => Account::Redeemed,
            "expired" => Account::Expired,
            "refund_withheld" => Account::RefundWithheld,
            "forgiven" => Account::Forgiven,
            "transfers" => Account::Transfers,
            _ => {
                let funder = |prefix: &str| text.strip_prefix(prefix).and_then(|id| FunderId::new(id).ok());
                let cause = text.strip_prefix("donated:").and_then(|cause| Tag::new(cause).ok());
                match (funder("funder:"), funder("settlement:"), cause) {
                    (Some(funder), _, _) => Account::Funder(funder),
                    (_, Some(funder), _) => Account::Settlement(funder),
                    (_, _, Some(cause)) => Account::Donated(cause),
                    _ => return Err(AccountParseError(text.to_owned())),
                }
            }
        };
        Ok(account)
    }
}

impl Serialize for Account {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Account {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Account, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What a posting moves. Prints and parses as `points`, `cashback` or `stamps:CARD`.
///
/// ```
/// use loyalty_engine::{Asset, Tag};
/// let stamps: Asset = "stamps:coffee".parse().unwrap();
/// assert_eq!(stamps, Asset::Stamps(Tag::new("coffee").unwrap()));
/// assert_eq!(Asset::Points.to_string(), "points");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Asset {
    /// Loyalty points.
    Points,
    /// Cashback: money in the program currency, in the member's cashback wallet.
    Cashback,
    /// Stamps on the stamp card with this id.
    Stamps(Tag),
}

impl fmt::Display for Asset {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Asset::Points => formatter.pad("points"),
            Asset::Cashback => formatter.pad("cashback"),
            Asset::Stamps(card) => formatter.pad(&format!("stamps:{card}")),
        }
    }
}

/// The text was not an asset name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an asset (points, cashback or stamps:CARD)")]
pub struct AssetParseError(String);

impl FromStr for Asset {
    type Err = AssetParseError;

    fn from_str(text: &str) -> Result<Asset, AssetParseError> {
        match text {
            "points" => return Ok(Asset::Points),
            "cashback" => return Ok(Asset::Cashback),
            _ => {}
        }
        let card = text.strip_prefix("stamps:").and_then(|card| Tag::new(card).ok());
        card.map(Asset::Stamps).ok_or_else(|| AssetParseError(text.to_owned()))
    }
}

impl Serialize for Asset {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Asset {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Asset, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A posting's id: the event that caused it and its position among that event's postings.
/// Applying the same event again derives the same ids, which is what makes replays detectable.
/// Prints as `EVENT#INDEX`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PostingId {
    /// The event that caused the posting.
    pub event: EventId,
    /// Position among the event's postings, from 0.
    pub index: u32,
}

impl fmt::Display for PostingId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}#{}", self.event, self.index)
    }
}

impl Serialize for PostingId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PostingId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PostingId, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let parsed = text.rsplit_once('#').and_then(|(event, index)| {
            Some(PostingId { event: EventId::new(event).ok()?, index: index.parse().ok()? })
        });
        parsed.ok_or_else(|| serde::de::Error::custom(format_args!("`{text}` is not a posting id (EVENT#INDEX)")))
    }
}

/// One movement of value between two accounts of a member's ledger. The amount is always
/// positive; a reversal is a posting the other way, never an edit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    /// Deterministic id, derived from the event.
    pub id: PostingId,
    /// Where the value comes from.
    pub from: Account,
    /// Where it goes.
    pub to: Account,
    /// What moves.
    pub asset: Asset,
    /// How much; positive.
    #[serde(with = "stored_amount")]
    pub amount: Decimal,
    /// The lot the member-side of this posting fills or drains, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<LotId>,
}

/// Serde's default asset for records written before there were other assets.
pub(crate) fn points() -> Asset {
    Asset::Points
}

pub(crate) fn is_points(asset: &Asset) -> bool {
    *asset == Asset::Points
}
