//! An embeddable loyalty-program engine: purchases and returns in, exact and idempotent ledger
//! postings out.
//!
//! A host application (a shop back end, a point-of-sale sync, a marketplace) reads a
//! [`Program`] with serde, compiles it once into an [`Engine`], and feeds it [`Event`]s. For
//! each event the engine answers with an [`Outcome`]: postings to persist, and what the host
//! must act on. The crate does no I/O; a [`Store`] persists, and [`Ledger`] is the small shell
//! that loads, evaluates, commits and retries.
//!
//! # Accounts and postings
//!
//! Every change is a [`Posting`] that moves a positive amount of an [`Asset`] from one
//! [`Account`] to another, so every asset sums to zero over all accounts. Nothing is edited:
//! a return adds postings the other way. A member holds three buckets: `pending` (earned, not
//! yet spendable), `available` and `debt` (what the member owes, zero or negative). Funders
//! (`funder:ID`) pay for accruals; a funder's balance is minus its outstanding cost.
//!
//! # Lots and pending points
//!
//! Each accrual is a [`Lot`]: what one order (or one bonus, reward or adjustment) credited from one funder,
//! with when it vests and expires. Points stay pending for the program's `vesting_days` (set it longer than the
//! return window), so points from an order that is still returnable cannot be spent.
//! Redemption drains available lots soonest-expiring first. Every event first *settles* the
//! member up to its time: due lots vest (and due birthday bonuses are credited), then expired
//! lots expire.
//!
//! # Receipts and clawback
//!
//! A purchase writes a [`Receipt`]: what each line earned under which rule, paid by whom, and,
//! when points or cashback paid for the order, each line's share of that [`Payment`]. A return
//! works from the receipt alone, never from today's rules: it claws back exactly what the
//! returned units earned (from the order's own lots first) and gives back the points that paid
//! for them. When the clawed-back points were already spent, the program's
//! [`SpentPointsPolicy`] decides: withhold their value from the refund, let the member owe them,
//! or forgive them. Once every unit of an order is back, the order's net accrual is exactly
//! zero.
//!
//! # Tiers, stamp cards and coalitions
//!
//! A program may also run a ladder of [`Tiers`]: members climb as soon as a metric (net spend,
//! orders, points earned) over a window reaches a level, and are reviewed down only at the end
//! of a period, with benefits (an earn multiplier, a discount share, flags) the engine applies
//! or reports. A member's tier is derived from each order's contribution, net of returns, so a
//! return that takes away the level its order paid for takes it away at once, with what the
//! level gave other orders. [`StampCard`]s turn qualifying units into stamps (an [`Asset`] of
//! its own) and full cards into [`Reward`]s the host redeems or voids; a return takes its stamps
//! back and revokes an unused reward they filled. [`Cashback`] pays a share of spend back as
//! money into a wallet of its own (the asset `cashback`), with its own lots, pending period and
//! caps, spent at checkout and clawed back like points. [`Bonus`]es credit fixed points for
//! joining, being referred, referring a member who joins, a birthday or a named event from the
//! host; a bonus on a named event or a referral may be limited per member and calendar period. [`Donations`] let members give available points
//! to a cause the program lists (the account `donated:CAUSE`), and [`Adjustments`] let a back
//! office credit or take back points for a listed reason. A paid [`MembershipPlan`] puts
//! the member in a segment while it runs, and rules for that segment give its benefits. In a
//! coalition, each [`Partner`] funds what its merchants sell, and points one funder paid for and
//! another honoured are settled between them with postings between `settlement:ID` accounts.
//!
//! # Follow-ups: events for another member
//!
//! An event changes one member's state, so what it does to a second member comes back in its
//! outcome's [`follow_ups`](Outcome::follow_ups): a [`Referral`] that credits the referrer's
//! bonuses when a referred member enrolls, a [`ReceiveTransfer`] that brings the points of a
//! [`Transfer`] (in a program with [`Transfers`]) to their recipient. Their ids derive from the
//! event's, so [`Ledger`], which applies them in turn, applies each exactly once, and applying
//! an event again completes follow-ups a crash left out.
//!
//! # Exactness and idempotency
//!
//! Money and points are [`rust_decimal::Decimal`], never floats; a line's points are rounded
//! once, as the program says, and shares between funders are split so they add up exactly.
//! Events carry ids; posting ids derive from them, and [`Ledger`] answers a replayed event
//! with its first outcome (and the same id with other content with an error).
//!
//! ```
//! use loyalty_engine::{Event, Ledger, MemberId, MemoryStore, Program};
//!
//! let program: Program = serde_json::from_str(r#"{
//!   "id": "shop", "currency": "EUR", "owner": "shop",
//!   "earn": {"rules": [{"id": "base", "effect": {"points_per_currency_unit": "0.1"}}]},
//!   "returns": {"vesting_days": 15}
//! }"#).unwrap();
//! let mut ledger = Ledger::new(program.compile().unwrap(), MemoryStore::new());
//!
//! let purchase: Event = serde_json::from_str(r#"{"type": "purchase", "id": "e-1", "member": "m-1",
//!   "at": "2026-03-01T10:00:00Z", "order": "o-1",
//!   "lines": [{"sku": "tv-55", "qty": "1", "unit_price": "10000.00"}]}"#).unwrap();
//! ledger.apply(&purchase).unwrap();
//!
//! let member = MemberId::new("m-1").unwrap();
//! let points = ledger.state(&member).unwrap().points();
//! assert_eq!(points.pending.to_string(), "1000");
//! assert!(points.available.value().is_zero());
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod amount;
mod analytics;
mod engine;
mod event;
mod id;
mod id_hash;
mod ledger;
mod program;
mod store;

pub use amount::{
    AmountParseError, MAX_DECIMAL_MAGNITUDE, MAX_DECIMAL_PLACES, Money, Points, Ratio, Rounding, RoundingMode,
};
pub use analytics::AssetTotals;
pub use engine::{
    Engine, EvalError, MAX_LINES_PER_EVENT, MAX_REWARDS_PER_EVENT, MAX_SEGMENTS_PER_EVENT, StampProgress, TierStatus,
};
pub use event::{
    Adjust, BuyMembership, Custom, Donate, EndMembership, Enroll, Event, Purchase, PurchaseLine, ReceiveTransfer,
    Redeem, Referral, Return, ReturnLine, RewardEvent, Tick, Transfer, TransferredPoints,
};
pub use id::{EventId, FunderId, IdError, MAX_ID_BYTES, MemberId, OrderId, RewardId, RuleId, Sku, Tag};
pub use ledger::{
    Account, AccountParseError, Asset, AssetParseError, BonusCount, Bucket, CashbackBalance, Contribution, Coverage,
    Earning, Enrollment, LinePayment, Lot, LotId, MemberState, Membership, Notice, Outcome, PaidWith, Payment,
    PendingDowngrade, PointsBalance, Posting, PostingId, Receipt, ReceiptLine, Reward, RewardStatus, StampEarning,
    TierChangeReason, TierRun, TierState,
};
pub use program::{
    Adjustments, BirthdayWindow, Bonus, BonusLimit, BonusTrigger, CalendarPeriod, Cashback, CashbackRule,
    CashbackSpending, CompileError, Condition, Donations, Downgrade, Earn, EarnRule, Effect, Expiry,
    MAX_ADJUSTMENT_REASONS, MAX_BIRTHDAY_WINDOW_DAYS, MAX_BIRTHDAYS_PER_EVENT, MAX_BONUS_TIMES, MAX_BONUSES,
    MAX_CAUSES, MAX_CONDITION_VALUES, MAX_EARN_RULES, MAX_EXCLUSIONS, MAX_EXPIRY_DAYS, MAX_FUNDERS_PER_RULE,
    MAX_LOTS_PER_TRANSFER, MAX_MEMBERSHIP_MONTHS, MAX_MEMBERSHIP_PLANS, MAX_MONEY_DECIMAL_PLACES, MAX_PARTNERS,
    MAX_STAMP_CARDS, MAX_STAMPS, MAX_TIER_FLAGS, MAX_TIER_LEVELS, MAX_VESTING_DAYS, MembershipPlan, OverCap, Partner,
    PeriodCap, PointsPeriodCap, Program, Redemption, Returns, RewardKind, SpentPointsPolicy, StampCard, TierBenefits,
    TierLevel, TierMetric, TierWindow, Tiers, Transfers, UtcOffset,
};
pub use store::{
    Commit, CommitStatus, Ledger, LedgerError, MAX_COMMIT_ATTEMPTS, MemoryStore, MemoryStoreError, Recorded, Store,
    Versioned,
};
#[cfg(feature = "postgres")]
pub use store::{PostgresStore, PostgresStoreError};
#[cfg(feature = "sqlite")]
pub use store::{SqliteStore, SqliteStoreError};
