//! A member's tier: the level, when it is reviewed, and the contributions that decide it.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::amount::stored_total;
use crate::id::OrderId;

/// Where a member stands on the program's tier ladder, and what decides it.
///
/// The engine keeps each order's contribution to the tier metric (net of returns) for as long
/// as a return may still change the tier, and re-derives the level from them whenever one
/// changes, so every change of level is traceable to the events that caused it.
/// [`Engine::tier_at`](crate::Engine::tier_at) reports the level with its benefits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierState {
    /// The tier as of the member's last event.
    pub current: TierRun,
    /// The tier just after the review before the latest one: where re-deriving starts.
    pub anchor: TierRun,
    /// The tier just after the latest review, if there was one since the anchor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_review: Option<TierRun>,
    /// Each order's contribution to the metric, in the order placed, from the start of the
    /// anchor's window on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contributions: Vec<Contribution>,
}

/// The tier at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierRun {
    /// The moment.
    pub at: DateTime<Utc>,
    /// The level, as an index into the program's levels (0 is the lowest).
    pub level: u32,
    /// When the member reached or was last confirmed at this level.
    pub since: DateTime<Utc>,
    /// When the level is next reviewed; `None` when it can't go down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_review: Option<DateTime<Utc>>,
    /// A downgrade a review decided, waiting out the grace period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downgrade: Option<PendingDowngrade>,
}

/// A downgrade that takes effect at `at` unless the member requalifies first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDowngrade {
    /// When it takes effect.
    pub at: DateTime<Utc>,
    /// The level it takes the member to, as an index.
    pub level: u32,
}

/// What one order adds to the tier metric, net of its returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contribution {
    /// When the order was placed.
    pub at: DateTime<Utc>,
    /// The order.
    pub order: OrderId,
    /// Its contribution: spend, 1 order, or points, net of returns.
    #[serde(with = "stored_total")]
    pub amount: Decimal,
}
