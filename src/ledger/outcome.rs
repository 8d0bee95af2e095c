//! What evaluating one event produced: everything needed to persist it and to update the state.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::amount::{Money, Points, stored_total};
use crate::event::Event;
use crate::id::{EventId, MemberId, RewardId, RuleId, Tag};
use crate::ledger::bonus::BonusCount;
use crate::ledger::lot::Lot;
use crate::ledger::posting::Posting;
use crate::ledger::receipt::Receipt;
use crate::ledger::reward::Reward;
use crate::ledger::tier::TierState;
use crate::program::TierBenefits;

/// The result of evaluating one event for one member: postings to persist, the lots and
/// receipt they concern, and what the host must act on.
///
/// Applying it with [`MemberState::apply`](crate::MemberState::apply) gives the member's next
/// state; [`Ledger`](crate::Ledger) does both and commits them atomically.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The event evaluated.
    pub event: EventId,
    /// The member it concerns.
    pub member: MemberId,
    /// When the event took effect: its time, or for a follow-up that reached a member whose
    /// last event was later, that event's time. The member's ledger is settled up to it.
    pub at: DateTime<Utc>,
    /// Postings, in order: settlement (vesting, expiry) first, then the event's own.
    pub postings: Vec<Posting>,
    /// Lots this event opened, as the event left them; the postings show how they filled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lots_opened: Vec<Lot>,
    /// The receipt of the order the event placed or returned, as it stands after the event;
    /// shared with the member's state, which keeps it as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Arc<Receipt>>,
    /// Receipts of other orders the event changed: a return that took away a tier level those
    /// orders were placed at claws back what the level gave them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revised: Vec<Arc<Receipt>>,
    /// The enrollment the event recorded; boxed, as one event of a member's many has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment: Option<Box<Enrollment>>,
    /// The member's paid membership as a `buy_membership` or `end_membership` event left it; boxed
    /// for the same reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<Box<Membership>>,
    /// The member's tier as the event left it, when the event changed it (a new order, a
    /// return, a review); shared with the member's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Arc<TierState>>,
    /// Stamp-card rewards this event issued, redeemed, voided or revoked, as it left them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewards: Vec<Reward>,
    /// Whether the event counts as the member's activity (a purchase, a redemption, a
    /// donation, an enrollment, a membership bought or a custom event): [`MemberState::last_activity_at`](crate::MemberState::last_activity_at).
    #[serde(default, skip_serializing_if = "is_false")]
    pub activity: bool,
    /// The counts of the limited bonuses this event gave, as it left them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bonus_counts: Vec<BonusCount>,
    /// Money the host must withhold from this return's refund, because the points or cashback
    /// the returned order earned were already spent (policy `deduct_from_refund`).
    #[serde(default, with = "stored_total")]
    pub refund_withheld: Money,
    /// Things to tell the member or the host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<Notice>,
    /// Events this one causes for other members: a [`Referral`](crate::Referral) for the
    /// referrer of an `enroll`, a [`ReceiveTransfer`](crate::ReceiveTransfer) for the recipient
    /// of a `transfer`. Their ids derive from this event's, so applying them again is harmless.
    /// A [`Ledger`](crate::Ledger) applies them in turn, each in a commit of its own; a host
    /// that evaluates events itself must apply them too, or the other member never sees them.
    /// A boxed slice (an event has one at most, and most have none), so that an outcome stays
    /// within 256 bytes.
    #[serde(default, skip_serializing_if = "<[Event]>::is_empty")]
    pub follow_ups: Box<[Event]>,
}

impl Outcome {
    /// An outcome with nothing in it yet, for `event` of `member` at `at`.
    pub(crate) fn empty(event: EventId, member: MemberId, at: DateTime<Utc>) -> Outcome {
        Outcome {
            event,
            member,
            at,
            postings: Vec::new(),
            lots_opened: Vec::new(),
            receipt: None,
            revised: Vec::new(),
            enrollment: None,
            membership: None,
            tier: None,
            rewards: Vec::new(),
            activity: false,
            bonus_counts: Vec::new(),
            refund_withheld: Money::ZERO,
            notices: Vec::new(),
            follow_ups: Box::default(),
        }
    }

    /// Gives back the vectors' spare room, for an outcome kept for good.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.postings.shrink_to_fit();
        self.lots_opened.shrink_to_fit();
        self.revised.shrink_to_fit();
        self.rewards.shrink_to_fit();
        self.bonus_counts.shrink_to_fit();
        self.notices.shrink_to_fit();
    }

    /// Empties the outcome for another event, keeping the vectors' memory. Inlined into its one
    /// caller, `Engine::evaluate_into`, whose loop it serves.
    #[inline]
    pub(crate) fn reset(&mut self, event: &EventId, member: &MemberId, at: DateTime<Utc>) {
        self.event.clone_from(event);
        self.member.clone_from(member);
        self.at = at;
        self.postings.clear();
        self.lots_opened.clear();
        self.receipt = None;
        self.revised.clear();
        self.enrollment = None;
        self.membership = None;
        self.tier = None;
        self.rewards.clear();
        self.activity = false;
        self.bonus_counts.clear();
        self.refund_withheld = Money::ZERO;
        self.notices.clear();
        // Most outcomes have none to drop: a test, not a call.
        if !self.follow_ups.is_empty() {
            self.follow_ups = Box::default();
        }
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// A member's enrollment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    /// When the member joined.
    pub at: DateTime<Utc>,
    /// Who referred the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referred_by: Option<MemberId>,
    /// The member's birthday.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<NaiveDate>,
}

/// A member's paid membership: the plan, and the time it runs, from `since` (inclusive) to
/// `until` (exclusive). While it runs, the member belongs to the plan's segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The plan, one of the program's [`memberships`](crate::Program::memberships).
    pub plan: Tag,
    /// When it started (a renewal before the end keeps the start).
    pub since: DateTime<Utc>,
    /// When it ends, or ended.
    pub until: DateTime<Utc>,
}

impl Membership {
    /// Whether the membership runs at `at`.
    pub fn runs_at(&self, at: DateTime<Utc>) -> bool {
        self.since <= at && at < self.until
    }
}

/// Something the host should know about an outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Notice {
    /// A return had to claw back points the member had already spent, and how the program's
    /// policy covered them: under `negative_balance` and `stop_at_zero`, what the member's
    /// other available points could not; under `deduct_from_refund`, which leaves other points
    /// alone, all of them.
    SpentPointsClawedBack {
        /// How many spent points this coverage took.
        #[serde(with = "stored_total")]
        points: Points,
        /// How they were covered.
        covered_by: Coverage,
    },
    /// A full stamp card issued a reward.
    RewardIssued {
        /// The reward.
        reward: RewardId,
        /// The card.
        card: Tag,
    },
    /// A return took back the stamps that filled a card, so its unused reward is revoked.
    RewardRevoked {
        /// The reward.
        reward: RewardId,
        /// The card.
        card: Tag,
    },
    /// A return took back stamps that filled a card whose reward was already used: the stamp
    /// count is negative until new stamps make up for it.
    StampsOwed {
        /// The card.
        card: Tag,
        /// How many stamps are owed now.
        stamps: u32,
    },
    /// A return had to claw back cashback the member had already spent, and how the program's
    /// policy covered it: as for [`Notice::SpentPointsClawedBack`], with cashback for points.
    SpentCashbackClawedBack {
        /// How much spent cashback this coverage took.
        #[serde(with = "stored_total")]
        amount: Money,
        /// How it was covered.
        covered_by: Coverage,
    },
    /// A review found the metric below the member's level; the member keeps it through the
    /// grace period, and unless the metric supports it again by `at`, the level drops to `to`.
    TierDowngradePending {
        /// The level held.
        level: Tag,
        /// The level the member will drop to.
        to: Tag,
        /// When, unless the member requalifies first.
        at: DateTime<Utc>,
    },
    /// A [bonus](crate::Bonus) credited its points.
    BonusCredited {
        /// The bonus.
        bonus: RuleId,
        /// The points credited, available from `at`.
        #[serde(with = "stored_total")]
        points: Points,
        /// When: the event's time, or for a birthday the birthday's first instant.
        at: DateTime<Utc>,
    },
    /// The event would have earned a bonus, but the member has had it as often as its
    /// [limit](crate::BonusLimit) allows in the period.
    BonusLimitReached {
        /// The bonus.
        bonus: RuleId,
    },
    /// The member's tier changed.
    TierChanged {
        /// The level before.
        from: Tag,
        /// The level now.
        to: Tag,
        /// When the change took effect: the order, the review or the end of the grace period.
        at: DateTime<Utc>,
        /// What caused it.
        reason: TierChangeReason,
        /// What the new level gives.
        benefits: TierBenefits,
    },
}

/// Why a member's tier changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TierChangeReason {
    /// The metric reached a higher level.
    Upgrade,
    /// A review found the metric below the level.
    Review,
    /// The grace period after a review ran out without the member requalifying.
    GraceEnded,
    /// A return lowered the metric that the level rested on.
    Return,
}

/// How spent points that a return claws back were covered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Coverage {
    /// Their value was withheld from the refund ([`Outcome::refund_withheld`]).
    RefundWithheld,
    /// The member now owes them (the [`Debt`](crate::Account::Debt) account).
    Debt,
    /// The program forgave them.
    Forgiven,
}
