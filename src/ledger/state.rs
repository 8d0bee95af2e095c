//! A member's state: balances (the fold of all postings), open lots and order receipts.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::amount::{MAX_DECIMAL_PLACES, Money, Points, is_negative, is_positive};
use crate::engine::checked_sum;
use crate::id::{FunderId, MemberId, OrderId, Tag};
use crate::ledger::bonus::BonusCount;
use crate::ledger::lot::{Bucket, Lot, LotId};
use crate::ledger::outcome::{Enrollment, Membership, Outcome};
use crate::ledger::posting::{Account, Asset, Posting, is_points, points};
use crate::ledger::receipt::{Payment, Receipt, ReceiptLine, StampEarning};
use crate::ledger::reward::Reward;
use crate::ledger::tier::TierState;
use crate::program::{MAX_BONUS_TIMES, check_reward, compile_funders};

/// Everything the engine knows about one member, and nothing about any other.
///
/// The state changes only through [`apply`](MemberState::apply), with an [`Outcome`] that
/// [`Engine::evaluate`](crate::Engine::evaluate) produced for it. Balances are exactly the fold
/// of every posting applied; the lots in a bucket add up to that bucket's balance.
///
/// ```
/// use loyalty_engine::{Account, Asset, MemberId, MemberState};
/// let state = MemberState::new(MemberId::new("m-1").unwrap());
/// assert!(state.balance(&Account::Available, Asset::Points).is_zero());
/// assert_eq!(state.next_due(), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StateRecord", into = "StateRecord")]
pub struct MemberState {
    member: MemberId,
    last_event_at: Option<DateTime<Utc>>,
    /// The time of the last event that counts as activity, for expiry after inactivity.
    last_activity_at: Option<DateTime<Utc>>,
    /// Boxed, so that members who never enroll pay one pointer for it.
    enrollment: Option<Box<Enrollment>>,
    /// Sorted by account and asset; a handful of entries, so a vector beats a tree.
    balances: Vec<(Account, Asset, Decimal)>,
    lots: Lots,
    pending_by_vesting: LotIndex,
    available_by_expiry: LotIndex,
    /// Sorted by order id. Shared, so that cloning a state (as a store's load does) copies no
    /// receipt; a vector, because a tree node is sized for eleven and most members have a few.
    orders: Vec<Arc<Receipt>>,
    next_lot: LotId,
    tier: Option<Arc<TierState>>,
    /// What most members never have, boxed so that each of them pays one pointer for it: a
    /// state is a map slot in a store, and its size is paid for every member.
    rare: Option<Box<Rare>>,
}

/// The parts of a member's state that most members never have.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Rare {
    /// In the order issued; a member earns few.
    rewards: Vec<Reward>,
    /// Whom the member's `debt` and `forgiven` balances are owed to.
    creditors: Creditors,
    /// One per limited bonus the member earned, in the order first earned.
    bonus_counts: Vec<BonusCount>,
    /// The member's paid membership, running or ended.
    membership: Option<Membership>,
}

/// The creditor book of a member who owes nothing.
static NO_CREDITORS: Creditors = Creditors { owed: Vec::new() };

/// A member's points in the three buckets the member holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointsBalance {
    /// Earned, waiting to vest.
    #[serde(with = "crate::amount::stored_total")]
    pub pending: Points,
    /// Spendable.
    #[serde(with = "crate::amount::stored_total")]
    pub available: Points,
    /// Owed (zero or negative), repaid first from points that become available.
    #[serde(with = "crate::amount::stored_total")]
    pub debt: Points,
}

/// A member's cashback in the three buckets the member holds, in the program currency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashbackBalance {
    /// Earned, waiting to vest.
    #[serde(with = "crate::amount::stored_total")]
    pub pending: Money,
    /// Spendable.
    #[serde(with = "crate::amount::stored_total")]
    pub available: Money,
    /// Owed (zero or negative), repaid first from cashback that becomes available.
    #[serde(with = "crate::amount::stored_total")]
    pub debt: Money,
}

impl PointsBalance {
    /// Available points net of debt: what the member would see as "my balance"; negative
    /// while the member owes more than is available.
    pub fn net(&self) -> Decimal {
        self.available.value() + self.debt.value()
    }
}

impl MemberState {
    /// A member with no history.
    pub fn new(member: MemberId) -> MemberState {
        MemberState {
            member,
            last_event_at: None,
            last_activity_at: None,
            enrollment: None,
            balances: Vec::new(),
            lots: Lots::default(),
            pending_by_vesting: LotIndex::default(),
            available_by_expiry: LotIndex::default(),
            orders: Vec::new(),
            next_lot: LotId(0),
            tier: None,
            rare: None,
        }
    }

    /// The member.
    pub fn member(&self) -> &MemberId {
        &self.member
    }

    /// The time of the last event applied; later events may not be older.
    pub fn last_event_at(&self) -> Option<DateTime<Utc>> {
        self.last_event_at
    }

    /// The time of the last event that counts as the member's activity (a purchase, a
    /// redemption, a donation, an enrollment, a membership bought or a custom event; not a
    /// return, a tick, an adjustment, a transfer or a referral): what
    /// [`Expiry::AfterInactiveMonths`](crate::Expiry::AfterInactiveMonths) counts from. `None`
    /// until an activity event, or for a state stored before it was kept; the last event then
    /// stands in for it.
    pub fn last_activity_at(&self) -> Option<DateTime<Utc>> {
        self.last_activity_at
    }

    /// The member's enrollment, once an `enroll` event recorded it.
    pub fn enrollment(&self) -> Option<&Enrollment> {
        self.enrollment.as_deref()
    }

    /// The balance of one account in this member's ledger: the sum of every posting into it
    /// minus every posting out of it.
    pub fn balance(&self, account: &Account, asset: Asset) -> Decimal {
        match self.balance_position(account, &asset) {
            Some(position) => self.balances[position].2,
            None => Decimal::ZERO,
        }
    }

    /// Every account this member's postings touched, with its balance.
    pub fn balances(&self) -> impl Iterator<Item = (&Account, &Asset, Decimal)> {
        self.balances.iter().map(|(account, asset, amount)| (account, asset, *amount))
    }

    /// Pending, available and owed points as of the last event. Vesting and expiry since then
    /// are settled by the next event; [`Engine::points_at`](crate::Engine::points_at) looks ahead.
    pub fn points(&self) -> PointsBalance {
        PointsBalance {
            pending: Points::new(self.balance(&Account::Pending, Asset::Points)),
            available: Points::new(self.balance(&Account::Available, Asset::Points)),
            debt: Points::new(self.balance(&Account::Debt, Asset::Points)),
        }
    }

    /// The member's cashback wallet as of the last event, in the program currency (like
    /// [`points`](MemberState::points), with the same settling caveat).
    pub fn cashback(&self) -> CashbackBalance {
        CashbackBalance {
            pending: Money::new(self.balance(&Account::Pending, Asset::Cashback)),
            available: Money::new(self.balance(&Account::Available, Asset::Cashback)),
            debt: Money::new(self.balance(&Account::Debt, Asset::Cashback)),
        }
    }

    /// The open lots (those with points left), by id.
    pub fn lots(&self) -> impl Iterator<Item = &Lot> {
        self.lots.live().filter(|lot| !lot.amount_points.is_zero())
    }

    /// The lots that still matter: open ones and those with expired points a return may reclaim.
    pub(crate) fn kept_lots(&self) -> impl Iterator<Item = &Lot> {
        self.lots.live()
    }

    /// Points the member holds (pending and available) by the funder that pays for them: each
    /// funder's outstanding liability to this member.
    pub fn points_by_funder(&self) -> Vec<(FunderId, Decimal)> {
        let mut by_funder: Vec<(FunderId, Decimal)> = Vec::new();
        for lot in self.lots().filter(|lot| lot.asset == Asset::Points) {
            match by_funder.iter_mut().find(|(funder, _)| *funder == lot.funder) {
                Some((_, points)) => *points += lot.amount_points,
                None => by_funder.push((lot.funder.clone(), lot.amount_points)),
            }
        }
        by_funder.sort();
        by_funder
    }

    /// One lot that has points left, or expired points a return may claw back.
    pub fn lot(&self, id: LotId) -> Option<&Lot> {
        self.lots.get(id)
    }

    /// The receipt of one of this member's orders.
    pub fn order(&self, order: &OrderId) -> Option<&Receipt> {
        let position = self.orders.binary_search_by(|receipt| receipt.order.cmp(order)).ok()?;
        Some(&self.orders[position])
    }

    /// The receipts of all the member's orders, by order id.
    pub fn orders(&self) -> impl Iterator<Item = &Receipt> {
        self.orders.iter().map(|receipt| &**receipt)
    }

    /// The member's tier as of the last event, in a program with tiers;
    /// [`Engine::tier_at`](crate::Engine::tier_at) reports it with its benefits.
    pub fn tier(&self) -> Option<&TierState> {
        self.tier.as_deref()
    }

    /// The rewards the member's stamp cards issued, in the order issued, whatever became of
    /// them.
    pub fn rewards(&self) -> &[Reward] {
        self.rare.as_ref().map_or(&[], |rare| &rare.rewards)
    }

    /// Whom the member owes: the funders whose clawed-back points or cashback the `debt` (or
    /// `forgiven`) balance stands for, with how much, by account, asset and funder.
    pub fn creditors(&self) -> &[(Account, Asset, FunderId, Decimal)] {
        &self.creditor_book().owed
    }

    /// How many times the member earned each bonus that has a [`BonusLimit`](crate::BonusLimit),
    /// as [`BonusCount`] counts.
    pub fn bonus_counts(&self) -> &[BonusCount] {
        self.rare.as_ref().map_or(&[], |rare| &rare.bonus_counts)
    }

    /// The member's paid membership, running or ended, once a `buy_membership` event bought one.
    pub fn membership(&self) -> Option<&Membership> {
        self.rare.as_ref().and_then(|rare| rare.membership.as_ref())
    }

    /// The plan of the paid membership that runs at `at`, if any: the segment it puts the
    /// member in.
    #[inline]
    pub(crate) fn plan_at(&self, at: DateTime<Utc>) -> Option<&Tag> {
        self.membership().filter(|membership| membership.runs_at(at)).map(|membership| &membership.plan)
    }

    pub(crate) fn creditor_book(&self) -> &Creditors {
        self.rare.as_ref().map_or(&NO_CREDITORS, |rare| &rare.creditors)
    }

    fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_default()
    }

    /// When this member next has something to settle (a lot vesting or expiring, a tier review
    /// that may take the member down, a downgrade at the end of its grace period), so that a
    /// host can schedule a `tick` and tell the member in time; correctness never depends on it.
    /// [`Engine::next_due`](crate::Engine::next_due) adds what the program decides: a birthday
    /// bonus, a deadline under an expiry after inactivity.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        let vesting = self.pending_by_vesting.first().map(|(at, _)| *at);
        let expiry = self.available_by_expiry.first().map(|(at, _)| *at).filter(|at| *at != DateTime::<Utc>::MAX_UTC);
        // At the lowest level a review can't change anything the member sees.
        let tier = self.tier.as_deref().map(|tier| &tier.current);
        let review = tier.filter(|run| run.level > 0).and_then(|run| run.next_review);
        let downgrade = tier.and_then(|run| run.downgrade).map(|pending| pending.at);
        [vesting, expiry, review, downgrade].into_iter().flatten().min()
    }

    /// The id the next opened lot gets.
    pub(crate) fn next_lot(&self) -> LotId {
        self.next_lot
    }

    /// Pending lots that vest at or before `at`, soonest first.
    pub(crate) fn pending_due(&self, at: DateTime<Utc>) -> impl Iterator<Item = LotId> + '_ {
        let due = self.pending_by_vesting.from(Bound::Unbounded);
        due.take_while(move |(vests_at, _)| *vests_at <= at).map(|(_, id)| id)
    }

    /// Available lots in the order redemption drains them, from `lower` on.
    pub(crate) fn available_in_expiry_order(
        &self,
        lower: Bound<(DateTime<Utc>, LotId)>,
    ) -> impl Iterator<Item = (DateTime<Utc>, LotId)> + '_ {
        self.available_by_expiry.from(lower)
    }

    /// Applies an outcome that [`Engine::evaluate`](crate::Engine::evaluate) produced for this
    /// state. Applying anything else is a bug in the caller.
    ///
    /// Apply each outcome once, to the state it was evaluated against: the state can't tell an
    /// outcome applied a second time at the same instant from a new one. A [`Ledger`](crate::Ledger)
    /// does this for you; a host that evaluates and stores by itself commits the outcome and
    /// the next state together, once (see [`Store::commit`](crate::Store::commit)).
    ///
    /// # Panics
    ///
    /// If the outcome is for another member, or is older than the last event applied; and, as a
    /// bug's symptom rather than a promise, for some outcomes applied to a state other than the
    /// one they were evaluated against (a lot opened twice, a lot drained below zero).
    pub fn apply(&mut self, outcome: &Outcome) {
        assert_eq!(outcome.member, self.member, "an outcome for another member");
        assert!(self.last_event_at.is_none_or(|last| last <= outcome.at), "an outcome older than the state");
        for lot in &outcome.lots_opened {
            assert!(lot.id >= self.next_lot, "lot {:?} was opened before", lot.id);
            self.next_lot = LotId(lot.id.0 + 1);
            // The outcome shows the lot as the event left it; the postings fill it from empty.
            let opened = Lot {
                bucket: Bucket::Pending,
                amount_points: Decimal::ZERO,
                expired_points: Decimal::ZERO,
                ..lot.clone()
            };
            self.lots.push(opened);
        }
        for posting in &outcome.postings {
            self.apply_posting(posting);
        }
        // After every posting, so that no lot this outcome opened is swept before it is filled.
        self.lots.sweep();
        for receipt in outcome.receipt.iter().chain(&outcome.revised) {
            self.file_receipt(Arc::clone(receipt));
        }
        if let Some(enrollment) = &outcome.enrollment {
            self.enrollment = Some(enrollment.clone());
        }
        if let Some(membership) = &outcome.membership {
            self.rare_mut().membership = Some(Membership::clone(membership));
        }
        if let Some(tier) = &outcome.tier {
            self.tier = Some(Arc::clone(tier));
        }
        for reward in &outcome.rewards {
            let rewards = &mut self.rare_mut().rewards;
            match rewards.iter_mut().find(|held| held.id == reward.id) {
                Some(held) => *held = reward.clone(),
                None => rewards.push(reward.clone()),
            }
        }
        if outcome.activity {
            self.last_activity_at = Some(outcome.at);
        } else if self.last_activity_at.is_none() {
            // A state stored before activity was kept counts from its last event: held before a
            // tick or a return moves the last event on.
            self.last_activity_at = self.last_event_at;
        }
        for count in &outcome.bonus_counts {
            let counts = &mut self.rare_mut().bonus_counts;
            match counts.iter_mut().find(|held| held.bonus == count.bonus) {
                Some(held) => *held = count.clone(),
                None => counts.push(count.clone()),
            }
        }
        self.drop_rare_if_empty();
        self.last_event_at = Some(outcome.at);
    }

    /// Keeps one form for "nothing rare" (a repaid debt empties the creditor book), so that
    /// equal states compare equal and a member who no longer owes pays nothing for it.
    fn drop_rare_if_empty(&mut self) {
        if self.rare.as_deref().is_some_and(|rare| *rare == Rare::default()) {
            self.rare = None;
        }
    }

    fn apply_posting(&mut self, posting: &Posting) {
        assert!(is_positive(posting.amount), "posting {} is not positive", posting.id);
        *self.balance_mut(&posting.from, &posting.asset) -= posting.amount;
        *self.balance_mut(&posting.to, &posting.asset) += posting.amount;
        if let Some(change) = Creditors::owed_change(posting) {
            self.rare_mut().creditors.track(change, posting, &mut Vec::new());
        }
        let Some(id) = posting.lot else { return };
        let lot = self.lots.get_mut(id).expect("a posting names a lot the member does not hold");
        let (was_live, was_indexed) = (Lots::is_live(lot), index_entry(lot));
        move_lot(lot, posting);
        let (is_live, is_indexed) = (Lots::is_live(lot), index_entry(lot));
        if was_live && !is_live {
            self.lots.forget();
        }
        // Most postings only change how much a lot holds, which its place in an index doesn't
        // depend on.
        if was_indexed != is_indexed {
            if let Some((bucket, key)) = was_indexed {
                self.index_mut(bucket).remove(&key);
            }
            if let Some((bucket, key)) = is_indexed {
                self.index_mut(bucket).insert(key);
            }
        }
    }

    fn file_receipt(&mut self, receipt: Arc<Receipt>) {
        match self.orders.binary_search_by(|filed| filed.order.cmp(&receipt.order)) {
            Ok(position) => self.orders[position] = receipt,
            Err(position) => self.orders.insert(position, receipt),
        }
    }

    /// A scan for equality, not a binary search: an equality test of two accounts is a few
    /// word compares (short ids compare their bytes in place), and a member has a handful of
    /// balances. The order only matters for placing a new one. The variants are compared
    /// first, inline: most entries differ in them, and the full comparison (derived, so it
    /// finds different variants unequal too) is a call.
    fn balance_position(&self, account: &Account, asset: &Asset) -> Option<usize> {
        let (variant, asset_variant) = (std::mem::discriminant(account), std::mem::discriminant(asset));
        self.balances.iter().position(|(held, held_asset, _)| {
            std::mem::discriminant(held) == variant
                && std::mem::discriminant(held_asset) == asset_variant
                && held == account
                && held_asset == asset
        })
    }

    fn balance_mut(&mut self, account: &Account, asset: &Asset) -> &mut Decimal {
        let position = match self.balance_position(account, asset) {
            Some(position) => position,
            None => {
                let position =
                    self.balances.partition_point(|(held, held_asset, _)| (held, held_asset) < (account, asset));
                // A first accrual opens two balances (its funder's and pending), and many members
                // never have more; past two, the vector doubles as usual.
                if self.balances.capacity() == 0 {
                    self.balances.reserve_exact(2);
                }
                self.balances.insert(position, (account.clone(), asset.clone(), Decimal::ZERO));
                position
            }
        };
        &mut self.balances[position].2
    }

    fn index_mut(&mut self, bucket: Bucket) -> &mut LotIndex {
        match bucket {
            Bucket::Pending => &mut self.pending_by_vesting,
            Bucket::Available => &mut self.available_by_expiry,
        }
    }
}

/// How much room to add before one more element goes into a collection of `len` elements and
/// room for `capacity`: by half rather than doubling from four, as `Vec` and `VecDeque` would,
/// because most members hold a lot or two, each lot takes 144 bytes and each index key 24.
/// Growth stays geometric, so pushing stays amortized constant time.
fn gentle_growth(len: usize, capacity: usize) -> Option<usize> {
    (len == capacity).then_some(len / 2 + 1)
}

/// Where a lot is filed: lots with points, under their bucket, by vesting time (pending) or in
/// redemption order (available).
fn index_entry(lot: &Lot) -> Option<(Bucket, (DateTime<Utc>, LotId))> {
    let key = match lot.bucket {
        Bucket::Pending => (lot.vests_at, lot.id),
        Bucket::Available => lot.expiry_key(),
    };
    (!lot.amount_points.is_zero()).then_some((lot.bucket, key))
}

/// Lot keys in order, in a deque. Lots mostly open in the order they vest and expire, so new
/// keys go in at the back and due ones leave from the front, both in constant time; and a
/// member's few lots take a few dozen bytes rather than a B-tree node sized for eleven.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct LotIndex(VecDeque<(DateTime<Utc>, LotId)>);

impl LotIndex {
    fn insert(&mut self, key: (DateTime<Utc>, LotId)) {
        let Err(position) = self.0.binary_search(&key) else { return };
        if let Some(more) = gentle_growth(self.0.len(), self.0.capacity()) {
            self.0.reserve_exact(more);
        }
        // The common case, and much cheaper than an insert that must handle any position.
        if position == self.0.len() {
            self.0.push_back(key);
        } else {
            self.0.insert(position, key);
        }
    }

    fn remove(&mut self, key: &(DateTime<Utc>, LotId)) {
        match self.0.binary_search(key) {
            Ok(0) => drop(self.0.pop_front()),
            Ok(position) => drop(self.0.remove(position)),
            // The index changes only when a lot's entry does, so a key it lacks means it drifted.
            Err(_) => debug_assert!(false, "lot key {key:?} is not indexed"),
        }
    }

    fn first(&self) -> Option<&(DateTime<Utc>, LotId)> {
        self.0.front()
    }

    /// The keys from `lower` on, in order.
    fn from(&self, lower: Bound<(DateTime<Utc>, LotId)>) -> impl Iterator<Item = (DateTime<Utc>, LotId)> + '_ {
        let start = match lower {
            Bound::Unbounded => 0,
            Bound::Included(lower) => self.0.partition_point(|key| *key < lower),
            Bound::Excluded(lower) => self.0.partition_point(|key| *key <= lower),
        };
        self.0.range(start..).copied()
    }
}

/// A member's lots by id, in a vector: ids only grow, so new lots go at the end, and a member's
/// few lots take a few hundred bytes rather than a tree node sized for eleven. A lot that is
/// drained for good stays until such lots are half the vector, then they all go at once, so
/// forgetting lots stays cheap however many a member holds.
#[derive(Clone, Debug, Default)]
struct Lots {
    lots: Vec<Lot>,
    forgotten: usize,
}

impl Lots {
    /// Whether a lot still matters: it has points, or expired points a return may reclaim.
    fn is_live(lot: &Lot) -> bool {
        !lot.amount_points.is_zero() || !lot.expired_points.is_zero()
    }

    fn position(&self, id: LotId) -> Option<usize> {
        let position = self.lots.binary_search_by_key(&id, |lot| lot.id).ok()?;
        Lots::is_live(&self.lots[position]).then_some(position)
    }

    fn get(&self, id: LotId) -> Option<&Lot> {
        self.position(id).map(|position| &self.lots[position])
    }

    /// A lot, live or just opened (still empty).
    fn get_mut(&mut self, id: LotId) -> Option<&mut Lot> {
        let position = self.lots.binary_search_by_key(&id, |lot| lot.id).ok()?;
        Some(&mut self.lots[position])
    }

    fn push(&mut self, lot: Lot) {
        assert!(self.lots.last().is_none_or(|last| last.id < lot.id), "lot ids only grow");
        if let Some(more) = gentle_growth(self.lots.len(), self.lots.capacity()) {
            self.lots.reserve_exact(more);
        }
        self.lots.push(lot);
    }

    fn live(&self) -> impl Iterator<Item = &Lot> {
        self.lots.iter().filter(|lot| Lots::is_live(lot))
    }

    /// Notes that one more lot was drained for good.
    fn forget(&mut self) {
        self.forgotten += 1;
    }

    /// Drops the drained lots once they are half the vector.
    fn sweep(&mut self) {
        if self.forgotten * 2 > self.lots.len() {
            self.lots.retain(Lots::is_live);
            self.forgotten = 0;
        }
    }
}

impl PartialEq for Lots {
    /// Equal when the live lots are: when drained lots are swept out is no difference.
    fn eq(&self, other: &Lots) -> bool {
        self.live().eq(other.live())
    }
}

impl Eq for Lots {}

/// Whom a member's `debt` and `forgiven` balances are owed to. A clawback that the member can't
/// cover credits the funder that took the points back; points that later pay the balance pay
/// those funders in funder order, so that when they are another funder's points, the engine can
/// settle between the two. Shared by [`MemberState::apply`] and the engine's draft so the two
/// can never disagree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Creditors {
    /// Sorted by account, asset and funder; no zero amounts.
    owed: Vec<(Account, Asset, FunderId, Decimal)>,
}

impl Creditors {
    /// The `debt` or `forgiven` account a posting changes, if any: with the funder it credits
    /// when it moves what the member can't cover to that funder, or with none when it pays the
    /// account back. The only postings the book follows, so a member who never owes needs none:
    /// [`Creditors::track`] takes what this finds. Inlined: every posting is tested with it, and
    /// most postings are none of those.
    #[inline]
    pub(crate) fn owed_change(posting: &Posting) -> Option<(&Account, Option<&FunderId>)> {
        match (&posting.from, &posting.to) {
            (owed @ (Account::Debt | Account::Forgiven), Account::Funder(funder)) => Some((owed, Some(funder))),
            (_, owed @ (Account::Debt | Account::Forgiven)) => Some((owed, None)),
            _ => None,
        }
    }

    /// Follows a posting into or out of `debt` or `forgiven`, as [`Creditors::owed_change`]
    /// found it to be; pushes onto `paid` which funders a payment paid, and how much.
    pub(crate) fn track(
        &mut self,
        (owed, funder): (&Account, Option<&FunderId>),
        posting: &Posting,
        paid: &mut Vec<(FunderId, Decimal)>,
    ) {
        let (asset, amount) = (&posting.asset, posting.amount);
        match funder {
            Some(funder) => self.credit(owed, asset, funder, amount),
            None => self.pay(owed, asset, amount, paid),
        }
    }

    fn credit(&mut self, account: &Account, asset: &Asset, funder: &FunderId, amount: Decimal) {
        let wanted = (account, asset, funder);
        match self.owed.binary_search_by(|(held, of, creditor, _)| (held, of, creditor).cmp(&wanted)) {
            Ok(position) => self.owed[position].3 += amount,
            Err(position) => self.owed.insert(position, (account.clone(), asset.clone(), funder.clone(), amount)),
        }
    }

    fn pay(&mut self, account: &Account, asset: &Asset, amount: Decimal, paid: &mut Vec<(FunderId, Decimal)>) {
        let mut left = amount;
        for (_, _, funder, owed) in self.owed.iter_mut().filter(|(held, of, _, _)| held == account && of == asset) {
            let part = left.min(*owed);
            *owed -= part;
            left -= part;
            paid.push((funder.clone(), part));
            if left.is_zero() {
                break;
            }
        }
        assert!(left.is_zero(), "a payment of {amount} {asset} into {account} exceeds what is owed");
        self.owed.retain(|(_, _, _, owed)| !owed.is_zero());
    }

    /// What is owed in `account` of `asset`, over all funders.
    fn total(&self, account: &Account, asset: &Asset) -> Result<Decimal, String> {
        let owed = self.owed.iter().filter(|(held, of, _, _)| held == account && of == asset);
        checked_total(owed.map(|(_, _, _, owed)| *owed))
    }
}

/// What a posting does to the lot it names: drains it when it leaves a lot's bucket (pending or
/// available), fills it and moves it there when it enters one. Shared by [`MemberState::apply`]
/// and the engine's draft so the two can never disagree.
#[inline]
pub(crate) fn move_lot(lot: &mut Lot, posting: &Posting) {
    if Bucket::of(&posting.from).is_some() {
        lot.amount_points -= posting.amount;
    }
    if let Some(bucket) = Bucket::of(&posting.to) {
        lot.bucket = bucket;
        lot.amount_points += posting.amount;
    }
    match (&posting.from, &posting.to) {
        (_, Account::Expired) => lot.expired_points += posting.amount,
        (Account::Expired, _) => lot.expired_points -= posting.amount,
        _ => {}
    }
    assert!(!is_negative(lot.amount_points), "lot {:?} drained below zero", lot.id);
    assert!(!is_negative(lot.expired_points), "lot {:?} un-expired more than expired", lot.id);
}

/// The largest next lot id a stored state may hold: what a database's signed 64-bit column
/// holds, and far past the lots any member opens, so that opening more can't overflow.
const MAX_LOT_ID: LotId = LotId(i64::MAX as u64);

/// The serialized form of a [`MemberState`]: plain lists, so that any serde format (JSON in a
/// database column, say) can hold it. The indexes are rebuilt on load.
#[derive(Serialize, Deserialize)]
struct StateRecord {
    member: MemberId,
    #[serde(default)]
    last_event_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_activity_at: Option<DateTime<Utc>>,
    #[serde(default)]
    enrollment: Option<Enrollment>,
    balances: Vec<BalanceRecord>,
    lots: Vec<Lot>,
    orders: Vec<Receipt>,
    next_lot: LotId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tier: Option<TierState>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    rewards: Vec<Reward>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    creditors: Vec<CreditorRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    bonus_counts: Vec<BonusCount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    membership: Option<Membership>,
}

#[derive(Serialize, Deserialize)]
struct CreditorRecord {
    account: Account,
    #[serde(default = "points", skip_serializing_if = "is_points")]
    asset: Asset,
    funder: FunderId,
    #[serde(with = "crate::amount::stored_total")]
    amount: Decimal,
}

#[derive(Serialize, Deserialize)]
struct BalanceRecord {
    account: Account,
    asset: Asset,
    #[serde(with = "crate::amount::stored_total")]
    amount: Decimal,
}

impl From<MemberState> for StateRecord {
    fn from(state: MemberState) -> StateRecord {
        let rare = state.rare.map(|rare| *rare).unwrap_or_default();
        StateRecord {
            member: state.member,
            last_event_at: state.last_event_at,
            last_activity_at: state.last_activity_at,
            enrollment: state.enrollment.map(|enrollment| *enrollment),
            balances: state
                .balances
                .into_iter()
                .map(|(account, asset, amount)| BalanceRecord { account, asset, amount })
                .collect(),
            lots: state.lots.lots.into_iter().filter(Lots::is_live).collect(),
            orders: state.orders.into_iter().map(Arc::unwrap_or_clone).collect(),
            next_lot: state.next_lot,
            tier: state.tier.map(Arc::unwrap_or_clone),
            rewards: rare.rewards,
            creditors: rare
                .creditors
                .owed
                .into_iter()
                .map(|(account, asset, funder, amount)| CreditorRecord { account, asset, funder, amount })
                .collect(),
            bonus_counts: rare.bonus_counts,
            membership: rare.membership,
        }
    }
}

impl TryFrom<StateRecord> for MemberState {
    type Error = String;

    /// Rebuilds a stored state, refusing one that breaks the ledger's invariants (a corrupt row,
    /// a bad migration), so that it fails here, with a message, rather than in the engine.
    fn try_from(record: StateRecord) -> Result<MemberState, String> {
        if record.next_lot > MAX_LOT_ID {
            return Err(format!("the next lot id {} is past any a ledger reaches", record.next_lot.0));
        }
        check_rewards(&record.rewards)?;
        check_bonus_counts(&record.bonus_counts, record.last_event_at)?;
        let mut state = MemberState::new(record.member);
        if record.last_activity_at.is_some_and(|activity| record.last_event_at.is_none_or(|last| activity > last)) {
            return Err("the last activity is later than the last event".to_owned());
        }
        state.last_event_at = record.last_event_at;
        state.last_activity_at = record.last_activity_at;
        state.next_lot = record.next_lot;
        state.tier = record.tier.map(Arc::new);
        state.enrollment = record.enrollment.map(Box::new);
        if let Some(membership) = &record.membership {
            check_membership(membership, record.last_event_at)?;
        }
        let mut rare = Rare {
            rewards: record.rewards,
            creditors: Creditors::default(),
            bonus_counts: record.bonus_counts,
            membership: record.membership,
        };
        for creditor in record.creditors {
            if creditor.amount <= Decimal::ZERO || !matches!(creditor.account, Account::Debt | Account::Forgiven) {
                return Err(format!("creditor {} of {} is not a positive debt", creditor.funder, creditor.account));
            }
            rare.creditors.credit(&creditor.account, &creditor.asset, &creditor.funder, creditor.amount);
        }
        state.rare = Some(Box::new(rare));
        state.drop_rare_if_empty();
        for balance in record.balances {
            *state.balance_mut(&balance.account, &balance.asset) = balance.amount;
        }
        for lot in record.lots {
            check_lot(&lot, state.lots.lots.last(), state.next_lot)?;
            if let Some((bucket, key)) = index_entry(&lot) {
                state.index_mut(bucket).insert(key);
            }
            state.lots.push(lot);
        }
        for receipt in record.orders {
            check_receipt(&receipt, state.next_lot)?;
            if state.order(&receipt.order).is_some() {
                return Err(format!("order {} is stored twice", receipt.order));
            }
            state.file_receipt(Arc::new(receipt));
        }
        if let Some(tier) = &state.tier {
            check_tier(tier, &state)?;
        }
        for asset in [Asset::Points, Asset::Cashback] {
            for (bucket, account) in [(Bucket::Pending, Account::Pending), (Bucket::Available, Account::Available)] {
                let in_bucket = |lot: &&Lot| lot.bucket == bucket && lot.asset == asset;
                let in_lots = checked_total(state.lots.live().filter(in_bucket).map(|lot| lot.amount_points))?;
                if in_lots != state.balance(&account, asset.clone()) {
                    return Err(format!("the {account} {asset} balance is not the sum of its lots ({in_lots})"));
                }
            }
        }
        for asset in [Asset::Points, Asset::Cashback] {
            for account in [Account::Debt, Account::Forgiven] {
                if state.creditor_book().total(&account, &asset)? != -state.balance(&account, asset.clone()) {
                    return Err(format!("the {account} {asset} balance is not what its creditors are owed"));
                }
            }
        }
        Ok(state)
    }
}

fn check_bonus_counts(counts: &[BonusCount], last_event_at: Option<DateTime<Utc>>) -> Result<(), String> {
    for (position, count) in counts.iter().enumerate() {
        if count.times == 0 || count.times > MAX_BONUS_TIMES {
            return Err(format!("bonus {} is counted {} times, not 1 to {MAX_BONUS_TIMES}", count.bonus, count.times));
        }
        // A count's period started at or before the event that counted it.
        if count.period_start.is_some_and(|start| last_event_at.is_none_or(|last| start > last)) {
            return Err(format!("bonus {} is counted for a period after the member's last event", count.bonus));
        }
        if counts[..position].iter().any(|earlier| earlier.bonus == count.bonus) {
            return Err(format!("bonus {} is counted twice", count.bonus));
        }
    }
    Ok(())
}

/// A membership starts at the event that bought it, and ends after it starts (or where an
/// `end_membership` at its start ended it).
fn check_membership(membership: &Membership, last_event_at: Option<DateTime<Utc>>) -> Result<(), String> {
    if last_event_at.is_none_or(|last| membership.since > last) || membership.until < membership.since {
        return Err(format!(
            "membership {} runs from {} to {}, out of order",
            membership.plan, membership.since, membership.until
        ));
    }
    Ok(())
}

fn check_lot(lot: &Lot, previous: Option<&Lot>, next_lot: LotId) -> Result<(), String> {
    if previous.is_some_and(|previous| previous.id >= lot.id) || lot.id >= next_lot {
        return Err(format!("lot {} is out of order or not below the next lot id", lot.id.0));
    }
    if lot.amount_points.is_sign_negative() || lot.expired_points.is_sign_negative() {
        return Err(format!("lot {} holds a negative amount", lot.id.0));
    }
    Ok(())
}

fn check_receipt(receipt: &Receipt, next_lot: LotId) -> Result<(), String> {
    let order = &receipt.order;
    let lines = receipt.lines.len();
    for earnings in [&receipt.earnings, &receipt.cashback] {
        if earnings.iter().any(|earning| earning.line as usize >= lines) {
            return Err(format!("order {order} has an earning for a line it does not have"));
        }
        // Returns take a line's earnings as one run.
        if earnings.windows(2).any(|pair| pair[0].line > pair[1].line) {
            return Err(format!("order {order} has earnings out of line order"));
        }
        if earnings.iter().any(|earning| !part_of(earning.clawed_back, earning.points)) {
            return Err(format!("order {order} has an earning that clawed back more than it earned"));
        }
    }
    if let Some(payment) = &receipt.payment {
        check_payment(payment, lines).map_err(|problem| format!("order {order} has a payment {problem}"))?;
    }
    let bad_line = |line: &ReceiptLine| {
        line.qty <= Decimal::ZERO || !part_of(line.returned_qty, line.qty) || line.value.value().is_sign_negative()
    };
    if receipt.lines.iter().any(bad_line) {
        return Err(format!("order {order} has a line with a bad quantity or value"));
    }
    let bad_stamps = |stamps: &StampEarning| {
        stamps.line as usize >= lines || stamps.taken_back > stamps.stamps || stamps.lost > stamps.stamps
    };
    if receipt.stamps.iter().any(bad_stamps) {
        return Err(format!(
            "order {order} has stamps for a line it does not have, or takes back or lost more than it earned"
        ));
    }
    if receipt.withheld_points.is_sign_negative() || receipt.withheld_money.value().is_sign_negative() {
        return Err(format!("order {order} has withheld a negative amount"));
    }
    if receipt.first_lot.0.checked_add(u64::from(receipt.lot_count)).is_none_or(|end| end > next_lot.0) {
        return Err(format!("order {order} names lots not yet opened"));
    }
    Ok(())
}

/// Whether `part` is zero or more and at most `whole`.
fn part_of(part: Decimal, whole: Decimal) -> bool {
    !part.is_sign_negative() && part <= whole
}

/// What redeeming a reward relies on: its kind's amount in range, its shares summing to one,
/// and one reward to an id.
fn check_rewards(rewards: &[Reward]) -> Result<(), String> {
    let mut ids = std::collections::BTreeSet::new();
    for reward in rewards {
        let problem = |detail: String| format!("reward {} {detail}", reward.id);
        if !ids.insert(&reward.id) {
            return Err(problem("is stored twice".to_owned()));
        }
        if reward.funded_by.is_empty() {
            return Err(problem("has no funder".to_owned()));
        }
        compile_funders(&reward.funded_by, "funded_by").map_err(|error| problem(error.to_string()))?;
        check_reward(&reward.kind, MAX_DECIMAL_PLACES, "kind").map_err(|error| problem(error.to_string()))?;
    }
    Ok(())
}

/// The sum of stored amounts, which a corrupt record may push past what a decimal holds.
fn checked_total(amounts: impl Iterator<Item = Decimal>) -> Result<Decimal, String> {
    checked_sum(amounts).map_err(|_| "stored amounts add up to more than a decimal holds".to_owned())
}

/// What re-deriving a tier relies on: contributions in the order placed (the engine finds a
/// window's start by bisection, and sums from there up to an order), each of an order whose
/// receipt the state keeps (a return of it finds its contribution, and a lost level re-places
/// the orders it counted).
fn check_tier(tier: &TierState, state: &MemberState) -> Result<(), String> {
    if tier.contributions.windows(2).any(|pair| pair[0].at > pair[1].at) {
        return Err("the tier's contributions are out of time order".to_owned());
    }
    match tier.contributions.iter().find(|contribution| state.order(&contribution.order).is_none()) {
        Some(contribution) => Err(format!("the tier counts order {}, which has no receipt", contribution.order)),
        None => Ok(()),
    }
}

/// What a return relies on in a payment: one share per line, and for each asset, shares and
/// groups that gave back no more than they paid and add up to the same amounts.
fn check_payment(payment: &Payment, lines: usize) -> Result<(), &'static str> {
    if payment.paid_with.is_empty() || payment.lines.len() != lines {
        return Err("that does not share what paid over its lines");
    }
    for asset in [Asset::Points, Asset::Cashback] {
        let shares = payment.lines.iter().map(|share| match asset {
            Asset::Points => (share.points, share.points_refunded),
            _ => (share.cashback, share.cashback_refunded),
        });
        let groups = payment.paid_with.iter().filter(|paid| paid.asset == asset);
        let by_group = paid_and_given_back(groups.map(|paid| (paid.points, paid.refunded)));
        match (paid_and_given_back(shares), by_group) {
            (Some(by_line), Some(by_group)) if by_line == by_group => {}
            _ => return Err("whose lines and groups disagree, or that gave back more than it paid"),
        }
    }
    Ok(())
}

/// The totals of what parts paid and gave back, if every part gave back no more than it paid.
fn paid_and_given_back(parts: impl Iterator<Item = (Decimal, Decimal)>) -> Option<(Decimal, Decimal)> {
    let mut totals = (Decimal::ZERO, Decimal::ZERO);
    for (paid, given_back) in parts {
        if given_back.is_sign_negative() || given_back > paid {
            return None;
        }
        totals = (totals.0.checked_add(paid)?, totals.1.checked_add(given_back)?);
    }
    Some(totals)
}
