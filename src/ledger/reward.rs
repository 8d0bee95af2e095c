//! Rewards that full stamp cards issued, and what became of them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::amount::Ratio;
use crate::id::{EventId, FunderId, OrderId, RewardId, Tag};
use crate::program::RewardKind;

/// A reward a full stamp card issued.
///
/// It stays `issued` until the host redeems or voids it, or a return revokes it because the
/// stamps that filled the card came back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reward {
    /// The reward's id, unique per member.
    pub id: RewardId,
    /// The stamp card that issued it.
    pub card: Tag,
    /// What it gives.
    pub kind: RewardKind,
    /// Who pays for it, in shares that sum to exactly one.
    pub funded_by: BTreeMap<FunderId, Ratio>,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// The order whose stamps filled the card.
    pub order: OrderId,
    /// Where it stands.
    pub status: RewardStatus,
    /// The event that redeemed, voided or revoked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<EventId>,
    /// When that happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
}

/// Where a reward stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RewardStatus {
    /// Waiting to be used.
    Issued,
    /// Used (a points reward's points were credited).
    Redeemed,
    /// Cancelled by the host.
    Voided,
    /// Taken back because a return took back the stamps that filled the card.
    Revoked,
}
