//! The engine: a compiled program and the pure function that evaluates events.
//!
//! Most events use few of a program's mechanics, so the entry of one that may not apply
//! (cashback, stamp cards, tiers, paying with points or cashback, expiry, debt) is a check
//! inlined into its caller (`#[inline(always)]`) that calls the work only when there is some;
//! the work stays out of line (`#[inline(never)]`), or the compiler would inline it into the
//! check and then call the check (BENCHMARKS.md, "Instructions per call", has what the calls
//! cost a one-line purchase).

mod adjust;
mod bonuses;
mod cashback;
mod draft;
mod enroll;
mod membership;
mod purchase;
mod redeem;
mod returns;
mod stamps;
mod tiers;
mod transfer;

pub use stamps::StampProgress;
pub use tiers::TierStatus;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::amount::{Money, Points, is_positive, within_limits};
use crate::event::Event;
use crate::id::{EventId, FunderId, MAX_ID_BYTES, MemberId, OrderId, RewardId, Sku, Tag};
use crate::ledger::{Asset, CashbackBalance, MemberState, Outcome, PointsBalance, Receipt, RewardStatus};
use crate::program::{
    BonusTrigger, CompiledBonus, CompiledCard, CompiledRule, MAX_LOTS_PER_TRANSFER, Program, RuleIndex,
};

use draft::{Buckets, Draft};

/// The most lines one purchase or return may have.
pub const MAX_LINES_PER_EVENT: usize = 1_000;

/// The most segments one purchase may name.
pub const MAX_SEGMENTS_PER_EVENT: usize = 100;
/// The most rewards one stamp card may issue for one purchase.
pub const MAX_REWARDS_PER_EVENT: u32 = 100;

/// A compiled program, ready to evaluate events. Cheap to clone and share between threads.
///
/// [`evaluate`](Engine::evaluate) is a pure function of the member's state and the event: no
/// clock, no I/O, no randomness. The same inputs give the same outcome, byte for byte.
///
/// ```
/// use loyalty_engine::{Event, MemberId, MemberState, Program};
///
/// let program: Program = serde_json::from_str(r#"{"id": "shop", "currency": "EUR", "owner": "shop",
///   "earn": {"rules": [{"id": "base", "effect": {"points_per_currency_unit": "1"}}]}}"#).unwrap();
/// let engine = program.compile().unwrap();
///
/// let event: Event = serde_json::from_str(r#"{"type": "purchase", "id": "e-1", "member": "m-1",
///   "at": "2026-03-01T10:00:00Z", "order": "o-1",
///   "lines": [{"sku": "book", "qty": "2", "unit_price": "12.50"}]}"#).unwrap();
/// let mut state = MemberState::new(MemberId::new("m-1").unwrap());
/// let outcome = engine.evaluate(&state, &event).unwrap();
/// state.apply(&outcome);
/// assert_eq!(state.points().available.to_string(), "25");
/// ```
#[derive(Clone, Debug)]
pub struct Engine {
    compiled: Arc<Compiled>,
}

#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) program: Program,
    pub(crate) rules: RuleIndex,
    /// Each tier level's earn multiplier, by level.
    pub(crate) tier_multipliers: Vec<Option<CompiledRule>>,
    pub(crate) cards: Vec<CompiledCard>,
    /// Which partner each merchant sells for, sorted by merchant.
    sellers: Vec<(Tag, FunderId)>,
    /// The cashback rules, their share as the effect's rate.
    pub(crate) cashback_rules: Vec<CompiledRule>,
    pub(crate) bonuses: Vec<CompiledBonus>,
    /// Whether a bonus is on birthdays: settling, which every event does, looks for birthdays
    /// only then.
    pub(crate) birthday_bonus: bool,
    /// Whether an earn rule, cashback rule or stamp card has a birthday condition: only then
    /// does a purchase work out how its date stands to the member's birthday.
    pub(crate) birthday_conditions: bool,
    /// How many earnings a line can have at most (every rule and a tier's multiplier, per
    /// funder), up to [`MAX_RESERVED_EARNINGS_PER_LINE`]: what a receipt reserves, so that it
    /// neither grows nor keeps spare room for good.
    pub(crate) earnings_per_line: usize,
}

/// Whether an event restarts the clock of an expiry after inactivity: what the member does to
/// earn or spend, not a return or the passing of time. Nor points moving between members:
/// otherwise two members passing a point back and forth would keep each other's points alive.
fn counts_as_activity(event: &Event) -> bool {
    match event {
        Event::Purchase(_)
        | Event::Redeem(_)
        | Event::Donate(_)
        | Event::RedeemReward(_)
        | Event::Enroll(_)
        | Event::BuyMembership(_)
        | Event::Custom(_) => true,
        Event::Return(_)
        | Event::VoidReward(_)
        | Event::Adjust(_)
        | Event::Transfer(_)
        | Event::ReceiveTransfer(_)
        | Event::Referral(_)
        | Event::EndMembership(_)
        | Event::Tick(_) => false,
    }
}

/// The most earnings per line a receipt reserves room for up front (a program of many SKU rules
/// has many rules but few per line); beyond it, the receipt grows.
const MAX_RESERVED_EARNINGS_PER_LINE: usize = 8;

impl Compiled {
    /// Who sells for `merchant`: its partner, else the program's owner. Inlined (see the module
    /// docs): most events name no merchant.
    #[inline(always)]
    pub(crate) fn seller(&self, merchant: Option<&Tag>) -> &FunderId {
        let partner = merchant.and_then(|merchant| {
            let position = self.sellers.binary_search_by(|(listed, _)| listed.cmp(merchant)).ok()?;
            Some(&self.sellers[position].1)
        });
        partner.unwrap_or(&self.program.owner)
    }
}

impl Engine {
    pub(crate) fn new(
        program: Program,
        rules: RuleIndex,
        tier_multipliers: Vec<Option<CompiledRule>>,
        cards: Vec<CompiledCard>,
        sellers: Vec<(Tag, FunderId)>,
        cashback_rules: Vec<CompiledRule>,
        bonuses: Vec<CompiledBonus>,
    ) -> Engine {
        let shares = |rule: &CompiledRule| rule.funders.len().max(1);
        let by_rules: usize = rules.rules.iter().map(shares).sum();
        let by_tier = tier_multipliers.iter().flatten().map(shares).max().unwrap_or(0);
        let earnings_per_line = (by_rules + by_tier).min(MAX_RESERVED_EARNINGS_PER_LINE);
        let birthday_bonus = bonuses.iter().any(|bonus| bonus.bonus.on == BonusTrigger::Birthday);
        let conditions = rules.rules.iter().chain(&cashback_rules).map(|rule| &rule.when);
        let birthday_conditions =
            conditions.chain(cards.iter().map(|card| &card.when)).any(|when| when.birthday.is_some());
        let compiled = Compiled {
            program,
            rules,
            tier_multipliers,
            cards,
            sellers,
            cashback_rules,
            bonuses,
            birthday_bonus,
            birthday_conditions,
            earnings_per_line,
        };
        Engine { compiled: Arc::new(compiled) }
    }

    /// The program this engine runs.
    pub fn program(&self) -> &Program {
        &self.compiled.program
    }

    /// Evaluates one event against a member's state: settles vesting and expiry up to the
    /// event's time, then applies the event. The state is not changed; apply the outcome with
    /// [`MemberState::apply`] (or let [`Ledger`](crate::Ledger) do it), and evaluate and apply
    /// its [`follow_ups`](Outcome::follow_ups) against the states of the members they name.
    ///
    /// # Errors
    ///
    /// An [`EvalError`] naming what is wrong with the event; nothing was produced.
    pub fn evaluate(&self, state: &MemberState, event: &Event) -> Result<Outcome, EvalError> {
        let mut outcome = Outcome::empty(event.id().clone(), event.member().clone(), event.at());
        self.evaluate_emptied(state, event, &mut outcome, None)?;
        Ok(outcome)
    }

    /// [`evaluate`](Engine::evaluate) into an outcome the caller keeps between events, so that
    /// a loop over many events reuses its vectors instead of allocating them for each one.
    /// Whatever `outcome` held before is replaced; after an error it holds nothing of use.
    ///
    /// ```
    /// # use loyalty_engine::{Event, MemberId, MemberState, Program};
    /// # let program: Program = serde_json::from_str(r#"{"id": "shop", "currency": "EUR", "owner": "shop",
    /// #   "earn": {"rules": [{"id": "base", "effect": {"points_per_currency_unit": "1"}}]}}"#).unwrap();
    /// # let engine = program.compile().unwrap();
    /// # let first: Event = serde_json::from_str(r#"{"type": "tick", "id": "e-0", "member": "m-1",
    /// #   "at": "2026-03-01T10:00:00Z"}"#).unwrap();
    /// let mut state = MemberState::new(MemberId::new("m-1").unwrap());
    /// let mut outcome = engine.evaluate(&state, &first).unwrap();
    /// for day in 2..=9 {
    ///     let json = format!(r#"{{"type": "purchase", "id": "e-{day}", "member": "m-1",
    ///         "at": "2026-03-0{day}T10:00:00Z", "order": "o-{day}",
    ///         "lines": [{{"sku": "tea", "qty": "1", "unit_price": "4"}}]}}"#);
    ///     let event: Event = serde_json::from_str(&json).unwrap();
    ///     engine.evaluate_into(&state, &event, &mut outcome).unwrap();
    ///     state.apply(&outcome);
    /// }
    /// assert_eq!(state.points().available.to_string(), "32");
    /// ```
    ///
    /// # Errors
    ///
    /// As [`evaluate`](Engine::evaluate).
    pub fn evaluate_into(&self, state: &MemberState, event: &Event, outcome: &mut Outcome) -> Result<(), EvalError> {
        // The last receipt's memory may serve the next purchase's receipt.
        let spare_receipt = outcome.receipt.take();
        outcome.reset(event.id(), event.member(), event.at());
        self.evaluate_emptied(state, event, outcome, spare_receipt)
    }

    /// Evaluates into an outcome that holds nothing yet but the event's id, member and time.
    fn evaluate_emptied(
        &self,
        state: &MemberState,
        event: &Event,
        outcome: &mut Outcome,
        spare_receipt: Option<Arc<Receipt>>,
    ) -> Result<(), EvalError> {
        // The outcome holds the event's time: the time it takes effect, unless it comes late.
        if let Err(error) = check_member_and_time(state, event.member(), event.at()) {
            outcome.at = late_follow_up_time(event, error)?;
        }
        let mut draft = Draft::new(&self.compiled, state, outcome);
        draft.spare_receipt = spare_receipt;
        match event {
            Event::Purchase(purchase) => purchase::evaluate(&mut draft, purchase),
            Event::Return(event) => returns::evaluate(&mut draft, event),
            Event::Redeem(redeem) => redeem::evaluate(&mut draft, redeem),
            Event::Donate(donation) => redeem::donate(&mut draft, donation),
            Event::Adjust(adjustment) => adjust::evaluate(&mut draft, adjustment),
            Event::Transfer(transfer) => transfer::send(&mut draft, transfer),
            Event::ReceiveTransfer(transfer) => transfer::receive(&mut draft, transfer),
            Event::Referral(referral) => bonuses::on_referral(&mut draft, referral),
            Event::Enroll(event) => enroll::evaluate(&mut draft, event),
            Event::BuyMembership(event) => membership::buy(&mut draft, event),
            Event::EndMembership(event) => membership::end(&mut draft, event),
            Event::Custom(event) => bonuses::on_custom(&mut draft, event),
            Event::RedeemReward(event) => stamps::redeem_reward(&mut draft, event),
            Event::VoidReward(event) => stamps::void_reward(&mut draft, event),
            Event::Tick(_) => draft.settle(),
        }?;
        draft.outcome.activity = counts_as_activity(event);
        if !draft.outcome.activity {
            // Points a return gives back to an inactive member expire as they become available.
            draft.expire_if_inactive()?;
        }
        draft.finish();
        Ok(())
    }

    /// How far the member is on each of the program's stamp cards: stamps held, stamps left to
    /// the next reward and rewards not yet used.
    ///
    /// ```
    /// use loyalty_engine::{Event, MemberId, MemberState, Program};
    ///
    /// let program: Program = serde_json::from_str(r#"{"id": "cafe", "currency": "EUR", "owner": "cafe",
    ///   "stamp_cards": [{"id": "coffee", "when": {"categories": ["coffee"]}, "stamps_needed": 6,
    ///                    "reward": {"free_item": {"max_value": "4.50"}}}]}"#).unwrap();
    /// let engine = program.compile().unwrap();
    /// let event: Event = serde_json::from_str(r#"{"type": "purchase", "id": "e-1", "member": "m-1",
    ///   "at": "2026-03-01T08:00:00Z", "order": "o-1",
    ///   "lines": [{"sku": "flat-white", "qty": "2", "unit_price": "3.80", "category": "coffee"}]}"#).unwrap();
    /// let mut state = MemberState::new(MemberId::new("m-1").unwrap());
    /// state.apply(&engine.evaluate(&state, &event).unwrap());
    ///
    /// let coffee = &engine.stamp_cards(&state)[0];
    /// assert_eq!((coffee.stamps.to_string(), coffee.stamps_left.to_string()), ("2".into(), "4".into()));
    /// ```
    pub fn stamp_cards(&self, state: &MemberState) -> Vec<StampProgress> {
        stamps::progress(&self.compiled.cards, state)
    }

    /// A member's tier as it will stand at `at`, once reviews up to then are settled: the
    /// level and its benefits, the next level and what is missing to reach it, and whether the
    /// next review would take the member down if nothing changes. `None` when the program has
    /// no tiers.
    ///
    /// ```
    /// use loyalty_engine::{Event, MemberId, MemberState, Program};
    ///
    /// let program: Program = serde_json::from_str(r#"{"id": "shop", "currency": "EUR", "owner": "shop",
    ///   "tiers": {"metric": "net_spend", "window": {"calendar": "year"},
    ///     "levels": [{"id": "blue", "threshold": "0"}, {"id": "gold", "threshold": "1000",
    ///                "benefits": {"discount_share": "0.1", "flags": ["free_shipping"]}}]}}"#).unwrap();
    /// let engine = program.compile().unwrap();
    /// let event: Event = serde_json::from_str(r#"{"type": "purchase", "id": "e-1", "member": "m-1",
    ///   "at": "2026-03-01T10:00:00Z", "order": "o-1",
    ///   "lines": [{"sku": "sofa", "qty": "1", "unit_price": "1200"}]}"#).unwrap();
    /// let mut state = MemberState::new(MemberId::new("m-1").unwrap());
    /// state.apply(&engine.evaluate(&state, &event).unwrap());
    ///
    /// let tier = engine.tier_at(&state, "2026-06-01T00:00:00Z".parse().unwrap()).unwrap().unwrap();
    /// assert_eq!(tier.level.as_str(), "gold");
    /// assert_eq!(tier.benefits.flags[0].as_str(), "free_shipping");
    /// // Nothing bought in 2027 yet: the review at the end of 2027 would take the member down.
    /// let tier = engine.tier_at(&state, "2027-02-01T00:00:00Z".parse().unwrap()).unwrap().unwrap();
    /// assert_eq!(tier.level.as_str(), "gold");
    /// assert_eq!(tier.downgrade_at_next_review.unwrap().as_str(), "blue");
    /// ```
    ///
    /// # Errors
    ///
    /// [`EvalError::OutOfOrder`] if `at` is before the member's last event.
    pub fn tier_at(&self, state: &MemberState, at: DateTime<Utc>) -> Result<Option<TierStatus>, EvalError> {
        check_member_and_time(state, state.member(), at)?;
        let event = EventId::new("tier_at").expect("a valid literal id");
        let mut scratch = Outcome::empty(event, state.member().clone(), at);
        let mut draft = Draft::new(&self.compiled, state, &mut scratch);
        tiers::tier_at(&mut draft)
    }

    /// Under [`Expiry::AfterInactiveMonths`](crate::Expiry::AfterInactiveMonths), when the
    /// member's available points expire unless the member is active before then (whether or
    /// not the member holds any); `None` under other expiries.
    ///
    /// ```
    /// use loyalty_engine::{Event, MemberId, MemberState, Program};
    ///
    /// let program: Program = serde_json::from_str(r#"{"id": "air", "currency": "EUR", "owner": "air",
    ///   "earn": {"rules": [{"id": "base", "effect": {"points_per_currency_unit": "1"}}]},
    ///   "expiry": {"after_inactive_months": 18}}"#).unwrap();
    /// let engine = program.compile().unwrap();
    /// let event: Event = serde_json::from_str(r#"{"type": "purchase", "id": "e-1", "member": "m-1",
    ///   "at": "2026-01-31T10:00:00Z", "order": "o-1",
    ///   "lines": [{"sku": "flight", "qty": "1", "unit_price": "300"}]}"#).unwrap();
    /// let mut state = MemberState::new(MemberId::new("m-1").unwrap());
    /// state.apply(&engine.evaluate(&state, &event).unwrap());
    /// // 18 months after 31 January 2026 is the last day of July 2027.
    /// let deadline = engine.inactivity_expiry(&state).unwrap();
    /// assert_eq!(deadline.to_rfc3339(), "2027-07-31T10:00:00+00:00");
    /// assert_eq!(engine.next_due(&state), Some(deadline));
    /// ```
    pub fn inactivity_expiry(&self, state: &MemberState) -> Option<DateTime<Utc>> {
        let program = &self.compiled.program;
        program.expiry.inactivity_deadline(state, program.utc_offset.0)
    }

    /// When the member next has something to settle: [`MemberState::next_due`], and what the
    /// program adds to it, the member's next birthday that a birthday bonus pays and, while the
    /// member holds available points, the [`inactivity_expiry`](Engine::inactivity_expiry) if
    /// it is still to come (points vesting after it expire as they vest, on dates
    /// `MemberState::next_due` has). A host can schedule a `tick` then; correctness never
    /// depends on it.
    pub fn next_due(&self, state: &MemberState) -> Option<DateTime<Utc>> {
        let holds_available = is_positive(state.points().available.value());
        let to_come = |deadline: &DateTime<Utc>| state.last_event_at().is_none_or(|last| last < *deadline);
        let inactivity = self.inactivity_expiry(state).filter(|deadline| holds_available && to_come(deadline));
        let birthday = bonuses::next_birthday(&self.compiled, state);
        [state.next_due(), inactivity, birthday].into_iter().flatten().min()
    }

    /// A member's points as they will stand at `at`, once vesting and expiry up to then are
    /// settled: what a checkout page shows as spendable.
    ///
    /// # Errors
    ///
    /// [`EvalError::OutOfOrder`] if `at` is before the member's last event.
    pub fn points_at(&self, state: &MemberState, at: DateTime<Utc>) -> Result<PointsBalance, EvalError> {
        let points = self.settled_buckets(state, at, &Asset::Points)?;
        let (pending, available, debt) = (points.pending, points.available, points.debt);
        Ok(PointsBalance { pending: Points::new(pending), available: Points::new(available), debt: Points::new(debt) })
    }

    /// A member's cashback wallet as it will stand at `at`, once vesting up to then is settled.
    ///
    /// # Errors
    ///
    /// [`EvalError::OutOfOrder`] if `at` is before the member's last event.
    pub fn cashback_at(&self, state: &MemberState, at: DateTime<Utc>) -> Result<CashbackBalance, EvalError> {
        let cashback = self.settled_buckets(state, at, &Asset::Cashback)?;
        let (pending, available, debt) = (cashback.pending, cashback.available, cashback.debt);
        Ok(CashbackBalance { pending: Money::new(pending), available: Money::new(available), debt: Money::new(debt) })
    }

    fn settled_buckets(&self, state: &MemberState, at: DateTime<Utc>, asset: &Asset) -> Result<Buckets, EvalError> {
        check_member_and_time(state, state.member(), at)?;
        let event = EventId::new("settled_at").expect("a valid literal id");
        let mut scratch = Outcome::empty(event, state.member().clone(), at);
        let mut draft = Draft::new(&self.compiled, state, &mut scratch);
        draft.settle()?;
        Ok(draft.buckets(asset))
    }

    /// The most points the member can put toward an order worth `order_value` at `at`, as a
    /// checkout page would offer: zero when the program has no redemption or the member is
    /// below its minimum balance, else the smaller of the available points and the program's
    /// cap on the order. `order_value` is what the purchase's cap is taken of: the sum over
    /// all its lines (excluded ones too) of quantity times unit price, less the line's
    /// discount; offered on another value, the points may be above the purchase's cap.
    ///
    /// # Errors
    ///
    /// [`EvalError::OutOfOrder`] if `at` is before the member's last event, and
    /// [`EvalError::DecimalOutOfRange`] for a negative order value or one out of range.
    pub fn spendable_on_order(
        &self,
        state: &MemberState,
        at: DateTime<Utc>,
        order_value: Money,
    ) -> Result<Points, EvalError> {
        let order_value = check_decimal(None, "order_value", order_value.value())?;
        if order_value < Decimal::ZERO {
            return Err(EvalError::DecimalOutOfRange { line: None, field: "order_value", value: order_value });
        }
        let available = self.points_at(state, at)?.available.value();
        let program = &self.compiled.program;
        let Some(redemption) =
            program.redemption.as_ref().filter(|redemption| available >= redemption.min_balance.value())
        else {
            return Ok(Points::ZERO);
        };
        Ok(Points::new(available.min(redeem::max_points_for_order(program, redemption, order_value)?)))
    }
}

/// When a follow-up that reaches a member whose last event is later takes effect: at that last
/// event's time, since another member's event can't be refused for coming late (its own commit
/// already stands). A follow-up is known by its kind and its id; any other event (a `referral`
/// a host wrote under an id of its own), and any other error, is refused.
#[cold]
fn late_follow_up_time(event: &Event, error: EvalError) -> Result<DateTime<Utc>, EvalError> {
    let id = event.id();
    match (event, error) {
        (Event::ReceiveTransfer(_), EvalError::OutOfOrder { last, .. }) if id.ends_with(TRANSFER_FOLLOW_UP) => Ok(last),
        (Event::Referral(_), EvalError::OutOfOrder { last, .. }) if id.ends_with(REFERRAL_FOLLOW_UP) => Ok(last),
        (_, error) => Err(error),
    }
}

/// What a transfer's follow-up appends to the transfer's id.
pub(crate) const TRANSFER_FOLLOW_UP: &str = "/transfer";

/// What a referral's follow-up appends to the enrollment's id.
pub(crate) const REFERRAL_FOLLOW_UP: &str = "/referral";

/// The longest id of an event that causes a follow-up: room for the suffix.
const MAX_ID_BYTES_WITH_FOLLOW_UPS: usize = MAX_ID_BYTES - TRANSFER_FOLLOW_UP.len();
const _: () = assert!(TRANSFER_FOLLOW_UP.len() == REFERRAL_FOLLOW_UP.len(), "one limit for both suffixes");

/// The id of the follow-up an event causes: the event's own with `suffix` appended.
pub(crate) fn follow_up_id(event: &EventId, suffix: &str) -> Result<EventId, EvalError> {
    EventId::new(&format!("{event}{suffix}")).map_err(|_| EvalError::IdTooLongForFollowUp { event: event.clone() })
}

fn check_member_and_time(state: &MemberState, member: &MemberId, at: DateTime<Utc>) -> Result<(), EvalError> {
    if member != state.member() {
        return Err(EvalError::WrongMember { event_member: member.clone(), state_member: state.member().clone() });
    }
    match state.last_event_at() {
        Some(last) if at < last => Err(EvalError::OutOfOrder { at, last }),
        _ => Ok(()),
    }
}

/// Refuses decimals that did not come through serde's checks: too many places, too large.
/// `line` is the index of the line the field is on, if it is on one.
pub(crate) fn check_decimal(line: Option<usize>, field: &'static str, value: Decimal) -> Result<Decimal, EvalError> {
    if !within_limits(value) {
        return Err(EvalError::DecimalOutOfRange { line, field, value });
    }
    Ok(value)
}

/// `lines[N]: ` for an error on line N, as the other errors of a line begin.
fn line_prefix(line: Option<usize>) -> String {
    line.map(|line| format!("lines[{line}]: ")).unwrap_or_default()
}

/// Checked arithmetic that reports overflow as an error, never a panic. (A `match` rather than
/// `ok_or`, which would build and drop an error on every successful step of the hot path.)
pub(crate) fn checked<T>(value: Option<T>) -> Result<T, EvalError> {
    match value {
        Some(value) => Ok(value),
        None => Err(EvalError::Overflow),
    }
}

/// The sum of `values`, or [`EvalError::Overflow`].
#[inline]
pub(crate) fn checked_sum(mut values: impl Iterator<Item = Decimal>) -> Result<Decimal, EvalError> {
    // From the first value on, not from zero: most sums here have a single term.
    let Some(mut sum) = values.next() else { return Ok(Decimal::ZERO) };
    // A loop, not `try_fold`: the fold stayed out of line in every caller, a call per sum on
    // the hot path (BENCHMARKS.md, the step table).
    for value in values {
        sum = checked(sum.checked_add(value))?;
    }
    Ok(sum)
}

/// An event the engine refuses. The state is untouched; nothing was posted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The event is for another member than the state.
    #[error("the event is for member {event_member} but the state is member {state_member}'s")]
    WrongMember {
        /// The event's member.
        event_member: MemberId,
        /// The state's member.
        state_member: MemberId,
    },
    /// The event is older than the member's last event.
    #[error("the event at {at} is older than the member's last event at {last}")]
    OutOfOrder {
        /// The event's time.
        at: DateTime<Utc>,
        /// The last event's time.
        last: DateTime<Utc>,
    },
    /// A purchase or return without lines.
    #[error("the event has no lines")]
    NoLines,
    /// More lines than [`MAX_LINES_PER_EVENT`].
    #[error("the event has {count} lines, more than the limit of {MAX_LINES_PER_EVENT}")]
    TooManyLines {
        /// How many lines the event has.
        count: usize,
    },
    /// A purchase naming more than [`MAX_SEGMENTS_PER_EVENT`] segments.
    #[error("the purchase names {count} segments, more than the limit of {MAX_SEGMENTS_PER_EVENT}")]
    TooManySegments {
        /// How many segments the purchase names.
        count: usize,
    },
    /// A quantity that is zero or negative.
    #[error("lines[{line}]: quantity {qty} must be positive")]
    InvalidQuantity {
        /// The line's index, from 0.
        line: usize,
        /// The quantity given.
        qty: Decimal,
    },
    /// A unit price that is zero or negative.
    #[error("lines[{line}]: unit price {unit_price} must be positive")]
    InvalidPrice {
        /// The line's index, from 0.
        line: usize,
        /// The price given.
        unit_price: Money,
    },
    /// A discount that is negative or larger than the line.
    #[error("lines[{line}]: discount {discount} must be between 0 and the line's value {line_value}")]
    InvalidDiscount {
        /// The line's index, from 0.
        line: usize,
        /// The discount given.
        discount: Money,
        /// Quantity times unit price.
        line_value: Money,
    },
    /// A decimal with more places than [`MAX_DECIMAL_PLACES`](crate::MAX_DECIMAL_PLACES) or
    /// larger than [`MAX_DECIMAL_MAGNITUDE`](crate::MAX_DECIMAL_MAGNITUDE).
    #[error(
        "{}{field} {value} is out of range (negative where it must not be, more than 10 decimal places, or more than 10^18)",
        line_prefix(*line)
    )]
    DecimalOutOfRange {
        /// The line's index, from 0, for a field of a line.
        line: Option<usize>,
        /// Which field.
        field: &'static str,
        /// The value given.
        value: Decimal,
    },
    /// A purchase in another currency than the program's.
    #[error("the purchase is in {found}, but the program runs in {expected}")]
    CurrencyMismatch {
        /// The program's currency.
        expected: Tag,
        /// The purchase's currency.
        found: Tag,
    },
    /// A purchase with an order id the member already used.
    #[error("order {order} was already placed")]
    DuplicateOrder {
        /// The order.
        order: OrderId,
    },
    /// A return of an order this member never placed. Returns only ever touch the member's
    /// own orders.
    #[error("order {order} is not an order of member {member}")]
    UnknownOrder {
        /// The order named.
        order: OrderId,
        /// The member returning.
        member: MemberId,
    },
    /// A return of a SKU the order does not have.
    #[error("order {order} has no line with SKU {sku}")]
    UnknownSku {
        /// The order.
        order: OrderId,
        /// The SKU named.
        sku: Sku,
    },
    /// A return that names a line the order does not have, or one of another SKU.
    #[error("order {order} has no line {line} with SKU {sku}")]
    UnknownLine {
        /// The order.
        order: OrderId,
        /// The line index named.
        line: u32,
        /// The SKU named.
        sku: Sku,
    },
    /// A return of more units than were bought less those already returned.
    #[error("return of {requested} units of {sku} from order {order}, but only {returnable} are left to return")]
    ReturnExceedsPurchase {
        /// The order.
        order: OrderId,
        /// The SKU.
        sku: Sku,
        /// Units the return asks for.
        requested: Decimal,
        /// Units bought and not yet returned.
        returnable: Decimal,
    },
    /// A points amount that is zero (where it must be positive) or negative, or finer than the
    /// program's points (more decimal places than its rounding keeps).
    #[error(
        "{points} points: the amount must be positive and no finer than the program's points (its rounding's places)"
    )]
    InvalidPoints {
        /// The amount given.
        points: Points,
    },
    /// The program has no `redemption` section, so points can't be spent.
    #[error("this program does not let members spend points")]
    RedemptionNotOffered,
    /// A `donate` naming a cause the program's `donations` does not list (or a program
    /// without donations).
    #[error("this program takes no donations to {cause}")]
    UnknownCause {
        /// The cause named.
        cause: Tag,
    },
    /// An `adjust` giving a reason the program's `adjustments` does not list (or a program
    /// without adjustments).
    #[error("this program takes no adjustments for {reason}")]
    UnknownReason {
        /// The reason given.
        reason: Tag,
    },
    /// An `adjust` of more points, either way, than the program's `adjustments.max_points`.
    #[error("an adjustment may move at most {max_points} points either way, not {points}")]
    AdjustmentTooLarge {
        /// The points the adjustment moves.
        points: Points,
        /// The program's most.
        max_points: Points,
    },
    /// A `donate` of fewer points than the program's `donations.min_points`.
    #[error("a donation must give at least {minimum} points, not {requested}")]
    BelowMinimumDonation {
        /// The points the donation gives.
        requested: Points,
        /// The program's smallest donation.
        minimum: Points,
    },
    /// Spending more than is available.
    #[error("{requested} points requested, but only {available} are available")]
    InsufficientPoints {
        /// Points asked for.
        requested: Points,
        /// Points available (after settling up to the event).
        available: Points,
    },
    /// Spending while the balance is below the program's minimum.
    #[error("spending needs a balance of at least {minimum} points; the member has {available}")]
    BelowMinimumBalance {
        /// The program's minimum.
        minimum: Points,
        /// Points available.
        available: Points,
    },
    /// Paying a larger share of the order with points than the program allows.
    #[error("points may pay at most {max_points} points of this order, not {requested}")]
    PointsAboveCap {
        /// Points asked for.
        requested: Points,
        /// The most points that may pay for the order.
        max_points: Points,
    },
    /// A `redeem_reward` or `void_reward` naming a reward the member does not have.
    #[error("member {member} has no reward {reward}")]
    UnknownReward {
        /// The member.
        member: MemberId,
        /// The reward named.
        reward: RewardId,
    },
    /// A purchase that would fill one stamp card more than [`MAX_REWARDS_PER_EVENT`] times.
    #[error("the purchase fills card {card} {rewards} times, more than the limit of {MAX_REWARDS_PER_EVENT}")]
    TooManyRewards {
        /// The card.
        card: Tag,
        /// How many rewards it would issue.
        rewards: Decimal,
    },
    /// A `redeem_reward` or `void_reward` of a reward that was already redeemed, voided or
    /// revoked.
    #[error("reward {reward} is {status:?}, not issued")]
    RewardClosed {
        /// The reward.
        reward: RewardId,
        /// What became of it.
        status: RewardStatus,
    },
    /// A cashback amount that is negative or finer than the currency.
    #[error("{amount} of cashback: the amount must be positive and in whole units of the currency")]
    InvalidCashback {
        /// The amount given.
        amount: Money,
    },
    /// The program has no `cashback.spending`, so cashback can't pay for orders.
    #[error("this program does not let members spend cashback")]
    CashbackNotSpendable,
    /// Paying a larger share of the order with cashback than the program allows (or more than
    /// points left to pay).
    #[error("cashback may pay at most {max} of this order, not {requested}")]
    CashbackAboveCap {
        /// Cashback asked for.
        requested: Money,
        /// The most cashback that may pay for the order.
        max: Money,
    },
    /// Spending more cashback than is available, or spending below the minimum balance.
    #[error("{requested} of cashback requested; {available} is available and spending needs at least {minimum}")]
    InsufficientCashback {
        /// Cashback asked for.
        requested: Money,
        /// Cashback available (after settling up to the event).
        available: Money,
        /// The program's minimum balance for spending.
        minimum: Money,
    },
    /// A `buy_membership` naming a plan the program does not have.
    #[error("this program has no membership plan {plan}")]
    UnknownPlan {
        /// The plan named.
        plan: Tag,
    },
    /// An `end_membership` for a member whose paid membership is not running.
    #[error("member {member} has no running membership to end")]
    NoMembership {
        /// The member.
        member: MemberId,
    },
    /// A `transfer` in a program without a `transfers` section.
    #[error("this program does not let members transfer points")]
    TransfersNotOffered,
    /// A `transfer` to the member sending it, or a `receive_transfer` from the member receiving
    /// it.
    #[error("member {member} can't transfer points to themselves")]
    SelfTransfer {
        /// The member.
        member: MemberId,
    },
    /// A `transfer` of fewer points than the program's `transfers.min_points`, or of more than
    /// its `transfers.max_points`.
    #[error("a transfer must give {min_points} to {} points, not {points}", max_points.map_or("any number of".to_owned(), |max| max.to_string()))]
    TransferOutOfLimits {
        /// The points the transfer gives.
        points: Points,
        /// The program's smallest transfer.
        min_points: Points,
        /// The program's largest transfer, if it has one.
        max_points: Option<Points>,
    },
    /// A `receive_transfer` carrying no lots or more than
    /// [`MAX_LOTS_PER_TRANSFER`](crate::MAX_LOTS_PER_TRANSFER), or a `transfer` whose points
    /// come from more lots of distinct funders and expiries than that (transfer fewer points).
    #[error("a transfer carries 1 to {MAX_LOTS_PER_TRANSFER} lots (one per funder and expiry), not {lots}")]
    TransferTooFragmented {
        /// How many lots it would carry.
        lots: usize,
    },
    /// An event whose follow-up's id (its own with `/transfer` or `/referral` appended) would be
    /// longer than [`MAX_ID_BYTES`](crate::MAX_ID_BYTES).
    #[error("event id {event} leaves no room for its follow-up's id: at most {MAX_ID_BYTES_WITH_FOLLOW_UPS} bytes")]
    IdTooLongForFollowUp {
        /// The event's id.
        event: EventId,
    },
    /// An `enroll` for a member who is already enrolled.
    #[error("member {member} is already enrolled")]
    AlreadyEnrolled {
        /// The member.
        member: MemberId,
    },
    /// An `enroll` whose `referred_by` is the member enrolling.
    #[error("member {member} can't refer themselves")]
    SelfReferral {
        /// The member.
        member: MemberId,
    },
    /// One posting would move more than [`MAX_DECIMAL_MAGNITUDE`](crate::MAX_DECIMAL_MAGNITUDE)
    /// (10^18): points earned on a line worth near 10^18 at a rate above one, say. Every input is
    /// within that bound, but what the engine computes from them may not be; bounding each posting
    /// keeps every balance, a sum over a member's whole history, far from what a decimal holds.
    #[error("{amount} {asset} in one posting is more than the 10^18 a posting may move")]
    PostingTooLarge {
        /// What the posting would move.
        asset: Asset,
        /// How much.
        amount: Decimal,
    },
    /// A computation exceeded what a decimal can hold, or a date went past the calendar's
    /// range (about 262,000 years either side of year 0).
    #[error("a computation overflowed: a decimal past what it holds, or a date past the calendar")]
    Overflow,
}
