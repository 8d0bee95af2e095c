//! The draft of an outcome: postings collected over a read-only state, with a small overlay of
//! the lots they touched. Nothing reaches the member's state until the host applies the outcome,
//! so an error half-way leaves no trace.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::amount::{above_magnitude, is_negative, is_positive, split_exact};
use crate::engine::{Compiled, EvalError, checked};
use crate::id::{FunderId, OrderId};
use crate::ledger::{
    Account, Asset, Bucket, Creditors, Lot, LotId, MemberState, Outcome, Posting, PostingId, Receipt, Reward,
    TierState, move_lot,
};

/// A member's own buckets of one asset.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Buckets {
    pub(crate) pending: Decimal,
    pub(crate) available: Decimal,
    pub(crate) debt: Decimal,
    pub(crate) forgiven: Decimal,
}

impl Buckets {
    /// The balance of `owed`: `debt`, or else `forgiven`.
    fn owed_in(&self, owed: &Account) -> Decimal {
        if matches!(owed, Account::Debt) { self.debt } else { self.forgiven }
    }
}

/// A member's own buckets of the assets that have lots.
#[derive(Default)]
struct MemberBalances {
    points: Buckets,
    cashback: Buckets,
}

impl MemberBalances {
    /// The member's balances as the state holds them: one pass over its few balances.
    fn of(state: &MemberState) -> MemberBalances {
        let mut balances = MemberBalances::default();
        for (account, asset, balance) in state.balances() {
            if let Some(held) = balances.balance_mut(account, asset) {
                *held = balance;
            }
        }
        balances
    }

    /// The buckets of `asset`: cashback's, or else points'.
    fn buckets(&self, asset: &Asset) -> Buckets {
        match asset {
            Asset::Cashback => self.cashback,
            _ => self.points,
        }
    }

    /// The balance of one of the member's own accounts, if `account` is one and `asset` has lots.
    fn balance_mut(&mut self, account: &Account, asset: &Asset) -> Option<&mut Decimal> {
        let buckets = match asset {
            Asset::Points => &mut self.points,
            Asset::Cashback => &mut self.cashback,
            _ => return None,
        };
        match account {
            Account::Pending => Some(&mut buckets.pending),
            Account::Available => Some(&mut buckets.available),
            Account::Debt => Some(&mut buckets.debt),
            Account::Forgiven => Some(&mut buckets.forgiven),
            _ => None,
        }
    }
}

pub(crate) struct Draft<'a> {
    pub(crate) program: &'a Compiled,
    pub(crate) state: &'a MemberState,
    pub(crate) at: DateTime<Utc>,
    /// The outcome being written, emptied by the caller.
    pub(crate) outcome: &'a mut Outcome,
    /// Copies of the state's lots that this draft changed.
    touched: TouchedLots,
    /// The state's lots that vested in this draft, in redemption order: available now, but not
    /// in the state's index of available lots.
    /// `None` until one does: most drafts vest nothing, and an empty tree still costs a walk to
    /// drop.
    vested: Option<BTreeSet<(DateTime<Utc>, LotId)>>,
    balances: MemberBalances,
    /// The member's tier, once this draft changed it (shared, to keep the draft small).
    pub(crate) tier: Option<Arc<TierState>>,
    /// Rewards this draft issued or changed, as it left them.
    pub(crate) rewards: Vec<Reward>,
    /// Whom the member owes, as the draft left it: the state's book until a posting changes it
    /// (most drafts never do, and copying even an empty book costs a call).
    creditors: Cow<'a, Creditors>,
    /// The creditors the last posting into `debt` or `forgiven` paid.
    paid_creditors: Vec<(FunderId, Decimal)>,
    /// The receipt `evaluate_into` wrote last time, whose memory a purchase reuses for its own
    /// when nothing else holds it.
    pub(crate) spare_receipt: Option<Arc<Receipt>>,
}

/// Copies of the state's lots that a draft changed. Most events touch a lot or two, which a
/// scan of a vector finds faster than a tree does (and a tree's first node holds room for
/// eleven lots); an event that touches many, such as a large redemption, gets a map of
/// positions once it passes [`TouchedLots::SCAN_LIMIT`].
#[derive(Default)]
struct TouchedLots {
    lots: Vec<Lot>,
    /// Where each lot is in `lots`; `None` while there are few enough to scan (an empty tree
    /// still costs a walk to drop).
    positions: Option<BTreeMap<LotId, usize>>,
}

impl TouchedLots {
    const SCAN_LIMIT: usize = 8;
    const BUILT_PAST_THE_LIMIT: &str = "the map of positions is built when the lots pass the scan limit";

    fn position(&self, id: LotId) -> Option<usize> {
        if self.lots.len() <= TouchedLots::SCAN_LIMIT {
            self.lots.iter().position(|lot| lot.id == id)
        } else {
            self.positions.as_ref().expect(TouchedLots::BUILT_PAST_THE_LIMIT).get(&id).copied()
        }
    }

    fn get(&self, id: LotId) -> Option<&Lot> {
        self.position(id).map(|position| &self.lots[position])
    }

    fn get_or_insert_with(&mut self, id: LotId, copy: impl FnOnce() -> Lot) -> &mut Lot {
        let position = match self.position(id) {
            Some(position) => position,
            None => {
                self.lots.push(copy());
                if self.lots.len() == TouchedLots::SCAN_LIMIT + 1 {
                    self.positions =
                        Some(self.lots.iter().enumerate().map(|(position, lot)| (lot.id, position)).collect());
                } else if self.lots.len() > TouchedLots::SCAN_LIMIT {
                    let position = self.lots.len() - 1;
                    self.positions.as_mut().expect(TouchedLots::BUILT_PAST_THE_LIMIT).insert(id, position);
                }
                self.lots.len() - 1
            }
        };
        &mut self.lots[position]
    }
}

impl<'a> Draft<'a> {
    /// Inlined, so that the draft is built where it lives instead of being copied there.
    #[inline]
    pub(crate) fn new(program: &'a Compiled, state: &'a MemberState, outcome: &'a mut Outcome) -> Draft<'a> {
        debug_assert!(outcome.postings.is_empty() && outcome.lots_opened.is_empty(), "an emptied outcome");
        // Built in place: a draft filled in after it is built would be copied on return.
        Draft {
            program,
            state,
            at: outcome.at,
            outcome,
            touched: TouchedLots::default(),
            vested: None,
            balances: MemberBalances::of(state),
            tier: None,
            rewards: Vec::new(),
            creditors: Cow::Borrowed(state.creditor_book()),
            paid_creditors: Vec::new(),
            spare_receipt: None,
        }
    }

    /// The member's buckets of an asset that has lots (points or cashback), within the draft.
    pub(crate) fn buckets(&self, asset: &Asset) -> Buckets {
        self.balances.buckets(asset)
    }

    /// Records a points posting (a zero amount records nothing) and applies it to the overlay.
    pub(crate) fn post(
        &mut self,
        from: Account,
        to: Account,
        amount: Decimal,
        lot: Option<LotId>,
    ) -> Result<(), EvalError> {
        self.post_in(&Asset::Points, from, to, amount, lot)
    }

    /// Records a posting of `asset` (points or cashback, whose lots the draft keeps).
    pub(crate) fn post_in(
        &mut self,
        asset: &Asset,
        from: Account,
        to: Account,
        amount: Decimal,
        lot: Option<LotId>,
    ) -> Result<(), EvalError> {
        assert!(!is_negative(amount), "postings move positive amounts");
        if amount.is_zero() {
            return Ok(());
        }
        // Balances are sums over a member's whole history; bounding every posting keeps them
        // about 79 billion postings away from the edge of a decimal.
        if above_magnitude(amount) {
            return Err(EvalError::PostingTooLarge { asset: asset.clone(), amount });
        }
        let index = u32::try_from(self.outcome.postings.len()).map_err(|_| EvalError::Overflow)?;
        let id = PostingId { event: self.outcome.event.clone(), index };
        let posting = Posting { id, from, to, asset: asset.clone(), amount, lot };
        if let Some(balance) = self.balances.balance_mut(&posting.from, asset) {
            *balance = checked(balance.checked_sub(amount))?;
        }
        if let Some(balance) = self.balances.balance_mut(&posting.to, asset) {
            *balance = checked(balance.checked_add(amount))?;
        }
        if let Some(change) = Creditors::owed_change(&posting) {
            self.creditors.to_mut().track(change, &posting, &mut self.paid_creditors);
        }
        if let Some(id) = lot {
            let from_state = id < self.state.next_lot();
            let lot = self.lot_mut(id);
            assert!(lot.asset == *asset, "a posting of {asset} names a lot of {}", lot.asset);
            move_lot(lot, &posting);
            if from_state && posting.from == Account::Pending && posting.to == Account::Available {
                let key = lot.expiry_key();
                self.vested.get_or_insert_default().insert(key);
            }
        }
        self.outcome.postings.push(posting);
        Ok(())
    }

    /// A lot as it stands in the draft; `None` once it is empty and gone.
    pub(crate) fn lot(&self, id: LotId) -> Option<&Lot> {
        if id >= self.state.next_lot() {
            // The lots a draft opens are numbered on from the state's next lot, in order.
            let opened = self.outcome.lots_opened.get((id.0 - self.state.next_lot().0) as usize);
            debug_assert!(opened.is_none_or(|lot| lot.id == id), "opened lots are numbered in order");
            return opened;
        }
        self.touched.get(id).or_else(|| self.state.lot(id))
    }

    fn lot_mut(&mut self, id: LotId) -> &mut Lot {
        if id >= self.state.next_lot() {
            let position = (id.0 - self.state.next_lot().0) as usize;
            return self.outcome.lots_opened.get_mut(position).expect("the draft opened this lot");
        }
        let state = self.state;
        self.touched.get_or_insert_with(id, || state.lot(id).expect("postings name lots the member holds").clone())
    }

    /// Opens an empty lot; postings fill it.
    pub(crate) fn open_lot(
        &mut self,
        asset: Asset,
        funder: FunderId,
        order: Option<OrderId>,
        vests_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
        refund_of: Option<LotId>,
    ) -> LotId {
        let id = LotId(self.state.next_lot().0 + self.outcome.lots_opened.len() as u64);
        let (earned_at, bucket, amount_points, expired_points) =
            (self.at, Bucket::Pending, Decimal::ZERO, Decimal::ZERO);
        let lot = Lot {
            id,
            asset,
            funder,
            order,
            earned_at,
            vests_at,
            expires_at,
            bucket,
            amount_points,
            expired_points,
            refund_of,
        };
        self.outcome.lots_opened.push(lot);
        id
    }

    /// Credits `points`, available from `at`, to the member in one lot per funder, split by the
    /// funders' shares exactly (a stamp card's points reward, a bonus). They repay debt first
    /// and expire as the program says, counted from `at`.
    pub(crate) fn credit_points(
        &mut self,
        funders: &[(FunderId, Decimal)],
        points: Decimal,
        at: DateTime<Utc>,
    ) -> Result<(), EvalError> {
        let program = &self.program.program;
        let mut amounts: Vec<Decimal> = funders.iter().map(|(_, share)| *share).collect();
        checked(split_exact(points, &mut amounts, program.rounding.decimal_places, |amount| amount))?;
        let expires_at = program.expiry.expires_at(at, program.utc_offset.0);
        // A share that rounds to nothing opens no lot.
        for ((funder, _), amount) in funders.iter().zip(amounts).filter(|(_, amount)| !amount.is_zero()) {
            let lot = self.open_lot(Asset::Points, funder.clone(), None, at, expires_at, None);
            // `open_lot` dates a lot at the event; a birthday's is dated at the birthday.
            let opened = self.outcome.lots_opened.last_mut().expect("the lot just opened");
            opened.earned_at = at;
            self.post(Account::Funder(funder.clone()), Account::Available, amount, Some(lot))?;
            self.repay_debt(lot)?;
        }
        Ok(())
    }

    /// The next available lot of `asset` with something in it, in redemption order, after `after`.
    fn next_available(&self, asset: &Asset, after: Option<(DateTime<Utc>, LotId)>) -> Option<(DateTime<Utc>, LotId)> {
        let is_live =
            |lot: &Lot| lot.bucket == Bucket::Available && is_positive(lot.amount_points) && lot.asset == *asset;
        let is_after = |key: &(DateTime<Utc>, LotId)| after.is_none_or(|after| *key > after);
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        let live = |(_, id): &(DateTime<Utc>, LotId)| self.lot(*id).is_some_and(is_live);
        let from_state = self.state.available_in_expiry_order(lower).find(live);
        let vested = self.vested.iter().flat_map(|vested| vested.range((lower, Bound::Unbounded))).copied().find(live);
        // A draft that spends opens a lot or two at most (a birthday's catching up, at most
        // MAX_BIRTHDAYS_PER_EVENT x MAX_FUNDERS_PER_RULE), so a scan is the cheapest index. (A
        // received transfer opens up to MAX_LOTS_PER_TRANSFER, but spends from none of them.)
        let opened =
            self.outcome.lots_opened.iter().filter(|lot| is_live(lot)).map(Lot::expiry_key).filter(is_after).min();
        [from_state, vested, opened].into_iter().flatten().min()
    }

    /// Drains up to `amount` of available `asset`, soonest-expiring lots first, each lot into
    /// the account `to` names for it (a lot it names none for is left alone), and tells
    /// `on_take` which lot gave how much. Returns what it could not take.
    pub(crate) fn take_available(
        &mut self,
        asset: &Asset,
        amount: Decimal,
        to: impl Fn(&Lot) -> Option<Account>,
        mut on_take: impl FnMut(&Lot, Decimal),
    ) -> Result<Decimal, EvalError> {
        let mut left = amount;
        let mut after = None;
        while is_positive(left) {
            let Some(key) = self.next_available(asset, after) else { break };
            after = Some(key);
            let lot = self.lot(key.1).expect("next_available finds held lots");
            let Some(into) = to(lot) else { continue };
            let taken = left.min(lot.amount_points);
            on_take(lot, taken);
            self.post_in(asset, Account::Available, into, taken, Some(key.1))?;
            left -= taken;
        }
        Ok(left)
    }

    /// Vests due pending lots, then expires due available ones: the settlement every event
    /// starts with.
    pub(crate) fn settle(&mut self) -> Result<(), EvalError> {
        // Most programs have no birthday bonus (see the module `engine` on inlined checks).
        if self.program.birthday_bonus {
            self.vest_with_birthdays()?;
        } else {
            self.vest_due(|_, _| Ok(()))?;
        }
        // Never-expiring lots sort last, under the largest time there is: not an expiry.
        let at = self.at;
        self.expire_available(|expires_at| expires_at <= at && expires_at != DateTime::<Utc>::MAX_UTC)?;
        self.expire_if_inactive()?;
        crate::engine::tiers::settle(self)
    }

    /// Vests the due pending lots, soonest first, calling `before_vesting` with each lot's
    /// vesting time before it vests.
    #[inline(always)]
    fn vest_due(
        &mut self,
        mut before_vesting: impl FnMut(&mut Self, DateTime<Utc>) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        let state = self.state;
        for id in state.pending_due(self.at) {
            let Some(lot) = self.lot(id).filter(|lot| lot.bucket == Bucket::Pending) else { continue };
            let (asset, amount, vests_at) = (lot.asset.clone(), lot.amount_points, lot.vests_at);
            before_vesting(self, vests_at)?;
            self.post_in(&asset, Account::Pending, Account::Available, amount, Some(id))?;
            self.repay_debt(id)?;
        }
        Ok(())
    }

    /// Vests the due lots and credits the birthdays since the last event in time order, so
    /// that a birthday credited late repays what it would have repaid on the day.
    #[inline(never)]
    fn vest_with_birthdays(&mut self) -> Result<(), EvalError> {
        let birthdays = crate::engine::bonuses::due_birthdays(self);
        let mut next = 0;
        self.vest_due(|draft, vests_at| {
            while next < birthdays.len() && birthdays[next] < vests_at {
                crate::engine::bonuses::credit_birthday(draft, birthdays[next])?;
                next += 1;
            }
            Ok(())
        })?;
        for day in &birthdays[next..] {
            crate::engine::bonuses::credit_birthday(self, *day)?;
        }
        Ok(())
    }

    /// Once the member's deadline under an expiry after inactivity has passed, expires every
    /// available lot of points: at the deadline, and as points become available after it.
    #[inline(always)]
    pub(crate) fn expire_if_inactive(&mut self) -> Result<(), EvalError> {
        let program = &self.program.program;
        if program.expiry.inactivity_deadline(self.state, program.utc_offset.0).is_some_and(|due| due <= self.at) {
            return self.expire_inactive();
        }
        Ok(())
    }

    #[inline(never)]
    fn expire_inactive(&mut self) -> Result<(), EvalError> {
        self.expire_available(|_| true)
    }

    /// Expires available lots of points in redemption order (soonest expiry first) while
    /// `due` holds for the lot's expiry. Only points expire, and only lots holding available
    /// points: with none available there is nothing to search for.
    #[inline(always)]
    fn expire_available(&mut self, due: impl Fn(DateTime<Utc>) -> bool) -> Result<(), EvalError> {
        let mut after = None;
        while is_positive(self.balances.points.available) {
            let Some(key) = self.next_available(&Asset::Points, after) else { break };
            let (expires_at, id) = key;
            if !due(expires_at) {
                break;
            }
            after = Some(key);
            let amount = self.lot(id).map_or(Decimal::ZERO, |lot| lot.amount_points);
            self.post(Account::Available, Account::Expired, amount, Some(id))?;
        }
        Ok(())
    }

    /// Hands what the draft changed beyond postings over to the outcome. By reference, not by
    /// value: moving the draft would copy all of it. Inlined: two moves don't need a call.
    #[inline]
    pub(crate) fn finish(&mut self) {
        self.outcome.tier = self.tier.take();
        self.outcome.rewards = std::mem::take(&mut self.rewards);
    }

    /// Records that `honored_by` honoured `amount` of `asset` that `funder` paid for: `funder`
    /// owes it.
    pub(crate) fn settle_between(
        &mut self,
        asset: &Asset,
        funder: &FunderId,
        honored_by: &FunderId,
        amount: Decimal,
    ) -> Result<(), EvalError> {
        if funder == honored_by {
            return Ok(());
        }
        let (from, to) = (Account::Settlement(funder.clone()), Account::Settlement(honored_by.clone()));
        self.post_in(asset, from, to, amount, None)
    }

    /// The balance of one of the member's accounts that the draft keeps no running total of
    /// (stamps, `transfers`), within the draft.
    pub(crate) fn unlotted_balance(&self, account: &Account, asset: &Asset) -> Decimal {
        let moved: Decimal = self
            .outcome
            .postings
            .iter()
            .filter(|posting| posting.asset == *asset)
            .map(|posting| {
                let into = if posting.to == *account { posting.amount } else { Decimal::ZERO };
                let out_of = if posting.from == *account { posting.amount } else { Decimal::ZERO };
                into - out_of
            })
            .sum();
        self.state.balance(account, asset.clone()) + moved
    }

    /// Points given back by a return first settle what a `stop_at_zero` program forgave: the
    /// spending it forgave is being undone.
    pub(crate) fn settle_forgiven(&mut self, id: LotId) -> Result<(), EvalError> {
        self.pay_owed(Account::Forgiven, id)
    }

    /// Points (or cashback) that just became available repay what the member owes first.
    pub(crate) fn repay_debt(&mut self, id: LotId) -> Result<(), EvalError> {
        self.pay_owed(Account::Debt, id)
    }

    /// Points a member who gave points away receives back settle, up to `most`, what a
    /// `stop_at_zero` program forgave: what was given away and forgiven is coming back.
    pub(crate) fn settle_forgiven_up_to(&mut self, id: LotId, most: Decimal) -> Result<(), EvalError> {
        self.pay_owed_from(Account::Forgiven, id, most)
    }

    /// Pays what the member owes in `owed` (debt or forgiven) from lot `id`, in its asset.
    /// Owing nothing is the usual case, and needs no look at the lot: inlined (see the module
    /// `engine`).
    #[inline(always)]
    fn pay_owed(&mut self, owed: Account, id: LotId) -> Result<(), EvalError> {
        let (points, cashback) = (&self.balances.points, &self.balances.cashback);
        if !is_negative(points.owed_in(&owed)) && !is_negative(cashback.owed_in(&owed)) {
            return Ok(());
        }
        self.pay_owed_from(owed, id, Decimal::MAX)
    }

    /// [`Draft::pay_owed`] for a member who owes something, paying at most `most`.
    #[inline(never)]
    fn pay_owed_from(&mut self, owed: Account, id: LotId, most: Decimal) -> Result<(), EvalError> {
        let Some(lot) = self.lot(id) else { return Ok(()) };
        let balance = self.buckets(&lot.asset).owed_in(&owed);
        if !is_negative(balance) {
            return Ok(());
        }
        let amount = lot.amount_points.min(-balance).min(most);
        self.pay_creditors(owed, amount, id)
    }

    /// Pays what the member owes in `owed` from lot `id`, settling with each creditor that is
    /// not the lot's funder.
    fn pay_creditors(&mut self, owed: Account, amount: Decimal, id: LotId) -> Result<(), EvalError> {
        let Some(lot) = self.lot(id).filter(|_| !amount.is_zero()) else { return Ok(()) };
        let (asset, funder) = (lot.asset.clone(), lot.funder.clone());
        debug_assert!(self.paid_creditors.is_empty(), "only payments into `debt` or `forgiven` fill it");
        self.post_in(&asset, Account::Available, owed, amount, Some(id))?;
        for (creditor, part) in std::mem::take(&mut self.paid_creditors) {
            self.settle_between(&asset, &funder, &creditor, part)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lot(id: u64) -> Lot {
        Lot {
            id: LotId(id),
            asset: Asset::Points,
            funder: FunderId::new("shop").unwrap(),
            order: None,
            earned_at: DateTime::<Utc>::UNIX_EPOCH,
            vests_at: DateTime::<Utc>::UNIX_EPOCH,
            expires_at: None,
            bucket: Bucket::Available,
            amount_points: Decimal::from(id),
            expired_points: Decimal::ZERO,
            refund_of: None,
        }
    }

    /// Past the scan limit, lots are found through the map of positions: every lot touched,
    /// in any order, is found again as it was left.
    #[test]
    fn touched_lots_are_found_again_however_many() {
        let mut touched = TouchedLots::default();
        let ids: Vec<u64> = (0..40).map(|index| (index * 17) % 40).collect();
        for &id in &ids {
            touched.get_or_insert_with(LotId(id), || lot(id)).amount_points += Decimal::ONE;
            assert!(touched.get(LotId(id + 100)).is_none());
        }
        for &id in &ids {
            let found = touched.get_or_insert_with(LotId(id), || panic!("lot {id} was touched before"));
            assert_eq!((found.id, found.amount_points), (LotId(id), Decimal::from(id + 1)));
            assert_eq!(touched.get(LotId(id)).map(|lot| lot.id), Some(LotId(id)));
        }
    }
}
