//! How often a member earned each limited bonus.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::RuleId;

/// How many times a member earned a bonus that has a [`BonusLimit`](crate::BonusLimit): in the
/// limit's period that holds the last time (`period_start`), or in all for a limit without
/// `per`; a new period starts from zero when the bonus is next earned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BonusCount {
    /// The bonus.
    pub bonus: RuleId,
    /// The start of the limit's calendar period that the count is for; `None` for a limit
    /// over the member's whole membership.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_start: Option<DateTime<Utc>>,
    /// How many times, at least 1.
    pub times: u32,
}
