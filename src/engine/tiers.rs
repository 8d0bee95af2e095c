//! Tiers: upgrades as orders come in, reviews as time passes, and re-deriving the level when a
//! return changes an order's contribution.
//!
//! The level is a function of the contributions and the clock: [`Ladder::run`] walks them from
//! an anchor (a moment whose level no kept contribution can change) and yields the level now.
//! New orders and the passing of time extend the current run; a return re-runs from the anchor,
//! so a level that only returned units paid for is gone at once.

use std::sync::Arc;

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use rust_decimal::Decimal;

use crate::amount::floor_to;
use crate::engine::draft::Draft;
use crate::engine::{EvalError, checked, checked_sum};
use crate::id::{OrderId, Tag};
use crate::ledger::{Contribution, Notice, PendingDowngrade, Receipt, TierChangeReason, TierRun, TierState};
use crate::program::{Downgrade, TierBenefits, TierMetric, TierWindow, Tiers};

/// The program's ladder with the calendar it runs in.
pub(crate) struct Ladder<'a> {
    pub(crate) tiers: &'a Tiers,
    pub(crate) offset: FixedOffset,
    pub(crate) money_decimal_places: u32,
}

/// One change of level, before it becomes a notice.
struct Change {
    from: u32,
    to: u32,
    at: DateTime<Utc>,
    reason: TierChangeReason,
}

impl Ladder<'_> {
    /// A member's tier before anything happened: the lowest level from `at`.
    fn start(&self, at: DateTime<Utc>) -> Result<TierState, EvalError> {
        let next_review = self.calendar_review(at)?;
        let run = TierRun { at, level: 0, since: at, next_review, downgrade: None };
        Ok(TierState { current: run.clone(), anchor: run, last_review: None, contributions: Vec::new() })
    }

    /// Calendar windows review every period, whatever the level, which keeps the anchor moving.
    fn calendar_review(&self, at: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, EvalError> {
        match self.tiers.window {
            TierWindow::Calendar(_) => Ok(Some(checked(self.tiers.review_after(at, self.offset))?)),
            _ => Ok(None),
        }
    }

    /// The metric over the contributions from `from` on that `before_end` accepts (a bound
    /// rather than an end time, so that a window may end at the last instant a date can hold).
    fn metric(
        &self,
        contributions: &[Contribution],
        from: DateTime<Utc>,
        before_end: impl Fn(DateTime<Utc>) -> bool,
    ) -> Result<Decimal, EvalError> {
        let start = contributions.partition_point(|contribution| contribution.at < from);
        let within = contributions[start..].iter().take_while(|contribution| before_end(contribution.at));
        checked_sum(within.map(|contribution| contribution.amount))
    }

    /// The metric at `at`, counting what happened at `at`.
    fn live_metric(&self, contributions: &[Contribution], at: DateTime<Utc>) -> Result<Decimal, EvalError> {
        let from = checked(self.tiers.window_start(at, self.offset))?;
        self.metric(contributions, from, |contribution_at| contribution_at <= at)
    }

    /// The metric a review at `at` judges: the window as it stood just before.
    fn review_metric(&self, contributions: &[Contribution], at: DateTime<Utc>) -> Result<Decimal, EvalError> {
        let just_before = checked(at.checked_sub_signed(TimeDelta::nanoseconds(1)))?;
        let from = checked(self.tiers.window_start(just_before, self.offset))?;
        self.metric(contributions, from, |contribution_at| contribution_at < at)
    }

    /// The level a review at `at` leaves a member at `held` with.
    fn reviewed_level(&self, contributions: &[Contribution], at: DateTime<Utc>, held: u32) -> Result<u32, EvalError> {
        let supported = self.tiers.supported(self.review_metric(contributions, at)?);
        Ok(match self.tiers.downgrade {
            _ if supported >= held => held,
            Downgrade::OneLevel => supported.max(held - 1),
            Downgrade::ToQualified => supported,
        })
    }

    /// Processes the reviews and grace periods due up to `until`, in time order, moving the
    /// anchor along so that it stays one review behind.
    fn advance(&self, state: &mut TierState, until: DateTime<Utc>, changes: &mut Vec<Change>) -> Result<(), EvalError> {
        loop {
            let run = &state.current;
            let review = run.next_review.filter(|at| *at <= until);
            let grace = run.downgrade.filter(|downgrade| downgrade.at <= until);
            match (review, grace) {
                (Some(review), Some(grace)) if grace.at <= review => self.end_grace(state, grace, changes)?,
                (_, Some(grace)) if review.is_none() => self.end_grace(state, grace, changes)?,
                (Some(review), _) => {
                    let review = self.first_review_that_matters(state, review, until)?;
                    self.review(state, review, changes)?
                }
                (None, _) => break,
            }
        }
        state.current.at = until.max(state.current.at);
        Ok(())
    }

    /// Of the reviews due from `review` to `until`, the first that matters. Calendar windows
    /// review every period even at the lowest level, where a review changes nothing but the
    /// dates it leaves: with no downgrade waiting either, only the last two matter (the anchor
    /// stays one review behind), so an event after years away costs two reviews, not one per
    /// period.
    fn first_review_that_matters(
        &self,
        state: &TierState,
        review: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, EvalError> {
        let run = &state.current;
        if run.level > 0 || run.downgrade.is_some() || !matches!(self.tiers.window, TierWindow::Calendar(_)) {
            return Ok(review);
        }
        let last = checked(self.tiers.window_start(until, self.offset))?;
        let just_before_last = checked(last.checked_sub_signed(TimeDelta::nanoseconds(1)))?;
        let before_last = checked(self.tiers.window_start(just_before_last, self.offset))?;
        Ok(review.max(before_last))
    }

    fn review(&self, state: &mut TierState, at: DateTime<Utc>, changes: &mut Vec<Change>) -> Result<(), EvalError> {
        let held = state.current.level;
        let level = self.reviewed_level(&state.contributions, at, held)?;
        let run = &mut state.current;
        run.at = at;
        if level < held && self.tiers.grace_days > 0 {
            // A downgrade already waiting keeps its date: later reviews never extend the grace.
            // One whose grace would end past the calendar never comes.
            let pending_at = run.downgrade.map(|pending| pending.at).or_else(|| self.tiers.grace_end(at));
            if let Some(pending_at) = pending_at {
                let level = run.downgrade.map_or(level, |pending| pending.level.min(level));
                run.downgrade = Some(PendingDowngrade { at: pending_at, level });
            }
        } else if level < held {
            set_level(run, level, at, TierChangeReason::Review, changes);
        } else {
            run.since = at;
        }
        run.next_review = self.next_review(run.level, at)?;
        state.anchor = state.last_review.take().unwrap_or_else(|| state.anchor.clone());
        state.last_review = Some(state.current.clone());
        Ok(())
    }

    fn next_review(&self, level: u32, at: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, EvalError> {
        match self.calendar_review(at)? {
            Some(review) => Ok(Some(review)),
            None if level > 0 => Ok(self.tiers.review_after(at, self.offset)),
            None => Ok(None),
        }
    }

    fn end_grace(
        &self,
        state: &mut TierState,
        downgrade: PendingDowngrade,
        changes: &mut Vec<Change>,
    ) -> Result<(), EvalError> {
        let supported = self.tiers.supported(self.live_metric(&state.contributions, downgrade.at)?);
        let run = &mut state.current;
        run.downgrade = None;
        let level = downgrade.level.max(supported);
        if level < run.level {
            set_level(run, level, downgrade.at, TierChangeReason::GraceEnded, changes);
            if level == 0 && self.calendar_review(downgrade.at)?.is_none() {
                run.next_review = None;
            }
        }
        Ok(())
    }

    /// Takes in the contribution at `position`: an upgrade if the metric now reaches a higher
    /// level, and the end of a pending downgrade if it supports the level held.
    fn take_in(&self, state: &mut TierState, position: usize, changes: &mut Vec<Change>) -> Result<(), EvalError> {
        // Up to this contribution, not to its time: orders placed at the same moment still
        // count one after the other.
        let at = state.contributions[position].at;
        let from = checked(self.tiers.window_start(at, self.offset))?;
        let start = state.contributions.partition_point(|contribution| contribution.at < from);
        let metric = checked_sum(state.contributions[start..=position].iter().map(|contribution| contribution.amount))?;
        let supported = self.tiers.supported(metric);
        let run = &mut state.current;
        if supported >= run.level {
            run.downgrade = None;
        }
        if supported > run.level {
            set_level(run, supported, at, TierChangeReason::Upgrade, changes);
            run.next_review = match self.calendar_review(at)? {
                Some(review) => Some(review),
                None => self.tiers.review_after(at, self.offset),
            };
        }
        Ok(())
    }

    /// Re-derives the current run from the anchor over the kept contributions, up to `until`.
    /// Returns the level each order since the anchor was placed at, by the new reckoning.
    fn rerun(&self, state: &mut TierState, until: DateTime<Utc>) -> Result<Vec<(OrderId, u32)>, EvalError> {
        state.current = state.anchor.clone();
        state.last_review = None;
        // Contributions come back one by one, as their orders came: a review or the end of a
        // grace period at the very moment of an order must not count that order yet.
        let all = std::mem::take(&mut state.contributions);
        let before_anchor = all.partition_point(|contribution| contribution.at < state.anchor.at);
        let mut since_anchor = all.into_iter();
        state.contributions.extend(since_anchor.by_ref().take(before_anchor));
        let mut ignored = Vec::new();
        let mut placed_at = Vec::new();
        for contribution in since_anchor {
            self.advance(state, contribution.at, &mut ignored)?;
            placed_at.push((contribution.order.clone(), state.current.level));
            state.contributions.push(contribution);
            self.take_in(state, state.contributions.len() - 1, &mut ignored)?;
        }
        self.advance(state, until, &mut ignored)?;
        Ok(placed_at)
    }

    /// At the lowest level with nothing pending, no past contribution can lower anything, so
    /// the anchor moves up to now and what no window can reach any more is dropped.
    fn forget_the_past(&self, state: &mut TierState) -> Result<(), EvalError> {
        let run = &state.current;
        if run.level == 0 && run.downgrade.is_none() {
            state.anchor = run.clone();
            state.last_review = None;
        }
        let keep_from = checked(self.tiers.window_start(state.anchor.at, self.offset))?;
        let stale = state.contributions.partition_point(|contribution| contribution.at < keep_from);
        state.contributions.drain(..stale);
        Ok(())
    }

    fn contribution(&self, receipt: &Receipt) -> Result<Decimal, EvalError> {
        let kept = |line: &crate::ledger::ReceiptLine| line.qty - line.returned_qty;
        match self.tiers.metric {
            // Each line's kept value, rounded down to the currency's places: a partial return
            // never leaves a fraction of a cent (nor a repeating decimal) in the metric.
            TierMetric::NetSpend => {
                let mut spend = Decimal::ZERO;
                for line in receipt.lines.iter().filter(|line| line.eligible) {
                    let value = checked(line.value.value().checked_mul(kept(line)))?;
                    let kept_value = floor_to(checked(value.checked_div(line.qty))?, self.money_decimal_places);
                    spend = checked(spend.checked_add(kept_value))?;
                }
                Ok(spend)
            }
            TierMetric::Purchases => Ok(if receipt.lines.iter().any(|line| kept(line) > Decimal::ZERO) {
                Decimal::ONE
            } else {
                Decimal::ZERO
            }),
            // Without what tiers themselves gave, so that losing a tier never lowers the metric
            // that decides it.
            TierMetric::PointsEarned => checked_sum(
                receipt
                    .earnings
                    .iter()
                    .filter(|earning| earning.tier.is_none())
                    .map(|earning| earning.points - earning.clawed_back),
            ),
        }
    }

    fn notice(&self, change: Change) -> Notice {
        let level = |index: u32| &self.tiers.levels[index as usize];
        Notice::TierChanged {
            from: level(change.from).id.clone(),
            to: level(change.to).id.clone(),
            at: change.at,
            reason: change.reason,
            benefits: level(change.to).benefits.clone(),
        }
    }
}

fn set_level(run: &mut TierRun, level: u32, at: DateTime<Utc>, reason: TierChangeReason, changes: &mut Vec<Change>) {
    changes.push(Change { from: run.level, to: level, at, reason });
    run.level = level;
    run.since = at;
}

fn ladder<'a>(draft: &Draft<'a>) -> Option<Ladder<'a>> {
    let program = &draft.program.program;
    let money_decimal_places = program.money_decimal_places;
    Some(Ladder { tiers: program.tiers.as_ref()?, offset: program.utc_offset.0, money_decimal_places })
}

/// The highest level's index. A state written under a program that had more levels may hold
/// higher ones: its members keep the highest level there is.
fn top_level(tiers: &Tiers) -> u32 {
    u32::try_from(tiers.levels.len() - 1).expect("a compiled ladder has 1 to 32 levels")
}

/// The member's tier as the draft has it, started at the draft's time for a member without one.
fn working_copy(draft: &mut Draft<'_>, ladder: &Ladder<'_>) -> Result<TierState, EvalError> {
    let mut state = match draft.tier.take().map(Arc::unwrap_or_clone).or_else(|| draft.state.tier().cloned()) {
        Some(state) => state,
        None => return ladder.start(draft.at),
    };
    let top = top_level(ladder.tiers);
    for run in [&mut state.current, &mut state.anchor].into_iter().chain(state.last_review.as_mut()) {
        run.level = run.level.min(top);
        if let Some(pending) = &mut run.downgrade {
            pending.level = pending.level.min(top);
        }
    }
    Ok(state)
}

/// Reviews and grace periods due by the draft's time: part of settling every event. Inlined
/// (see the module `engine`): many programs have no tiers.
#[inline(always)]
pub(crate) fn settle(draft: &mut Draft<'_>) -> Result<(), EvalError> {
    match ladder(draft) {
        Some(ladder) => settle_on_ladder(draft, &ladder),
        None => Ok(()),
    }
}

/// [`settle`] for a program with tiers.
#[inline(never)]
fn settle_on_ladder(draft: &mut Draft<'_>, ladder: &Ladder<'_>) -> Result<(), EvalError> {
    let held = draft.tier.as_deref().or(draft.state.tier());
    let due = held.is_none_or(|state| {
        let run = &state.current;
        run.next_review.is_some_and(|at| at <= draft.at) || run.downgrade.is_some_and(|pending| pending.at <= draft.at)
    });
    if !due {
        return Ok(());
    }
    let mut state = working_copy(draft, ladder)?;
    let pending_before = state.current.downgrade;
    let mut changes = Vec::new();
    ladder.advance(&mut state, draft.at, &mut changes)?;
    ladder.forget_the_past(&mut state)?;
    report(draft, ladder, changes, pending_before, state);
    Ok(())
}

/// Hands the changed tier to the draft, with notices of the level's changes and of a
/// downgrade newly waiting out its grace period.
fn report(
    draft: &mut Draft<'_>,
    ladder: &Ladder<'_>,
    changes: Vec<Change>,
    pending_before: Option<PendingDowngrade>,
    state: TierState,
) {
    draft.outcome.notices.extend(changes.into_iter().map(|change| ladder.notice(change)));
    if let Some(pending) = state.current.downgrade.filter(|pending| Some(*pending) != pending_before) {
        let level = |index: u32| ladder.tiers.levels[index as usize].id.clone();
        let (level, to, at) = (level(state.current.level), level(pending.level), pending.at);
        draft.outcome.notices.push(Notice::TierDowngradePending { level, to, at });
    }
    draft.tier = Some(Arc::new(state));
}

/// The member's level now (after settling) and its id, for earn rules and tier benefits.
pub(crate) fn level<'a>(draft: &Draft<'a>) -> Option<(u32, &'a Tag)> {
    let tiers = draft.program.program.tiers.as_ref()?;
    let top = top_level(tiers);
    let level = draft.tier.as_deref().or(draft.state.tier()).map_or(0, |state| state.current.level.min(top));
    Some((level, &tiers.levels[level as usize].id))
}

/// Takes a purchase's new order in; it may upgrade the member. Only a changed contribution (a
/// return's) re-places other orders, so a purchase has none to revise. Inlined (see the module
/// `engine`): many programs have no tiers.
#[inline(always)]
pub(crate) fn take_in_order(draft: &mut Draft<'_>, receipt: &Receipt) -> Result<(), EvalError> {
    let Some(ladder) = ladder(draft) else { return Ok(()) };
    record_on_ladder(draft, &ladder, receipt)?;
    Ok(())
}

/// Records what a returned order now contributes: its contribution changes and the level is
/// re-derived. Returns the orders that, by the re-derived levels, were placed at another level
/// than their receipts say. (Purchases take their orders in with [`take_in_order`].)
pub(crate) fn record_order(draft: &mut Draft<'_>, receipt: &Receipt) -> Result<Vec<(OrderId, Tag)>, EvalError> {
    match ladder(draft) {
        Some(ladder) => record_on_ladder(draft, &ladder, receipt),
        None => Ok(Vec::new()),
    }
}

/// [`record_order`] and [`take_in_order`] for a program with tiers: a new order is taken in (and
/// may upgrade the member), a returned one changes its contribution.
#[inline(never)]
fn record_on_ladder(
    draft: &mut Draft<'_>,
    ladder: &Ladder<'_>,
    receipt: &Receipt,
) -> Result<Vec<(OrderId, Tag)>, EvalError> {
    let amount = ladder.contribution(receipt)?;
    let mut state = working_copy(draft, ladder)?;
    let (held, pending_before) = (state.current.level, state.current.downgrade);
    let mut changes = Vec::new();
    let mut misplaced = Vec::new();
    let kept = state.contributions.iter().rposition(|contribution| contribution.order == receipt.order);
    match kept {
        Some(position) if state.contributions[position].amount != amount => {
            state.contributions[position].amount = amount;
            for (order, level) in ladder.rerun(&mut state, draft.at)? {
                // An order is placed before its own contribution counts, so its own return
                // can't move it; its receipt is the one this event is writing anyway.
                if order == receipt.order {
                    continue;
                }
                // A return only ever lowers the level an order was placed at.
                let placed = draft.state.order(&order).and_then(|placed| placed.tier.as_ref());
                let was = placed.and_then(|placed| ladder.tiers.levels.iter().position(|known| known.id == *placed));
                if was.is_some_and(|was| level < u32::try_from(was).expect("levels are limited to 32")) {
                    misplaced.push((order, ladder.tiers.levels[level as usize].id.clone()));
                }
            }
            if state.current.level != held {
                let reason = TierChangeReason::Return;
                changes.push(Change { from: held, to: state.current.level, at: draft.at, reason });
            }
        }
        Some(_) => {}
        None if receipt.at == draft.at => {
            ladder.forget_the_past(&mut state)?;
            let (at, order) = (receipt.at, receipt.order.clone());
            state.contributions.push(Contribution { at, order, amount });
            let position = state.contributions.len() - 1;
            ladder.take_in(&mut state, position, &mut changes)?;
        }
        // A return of an order from before the anchor's window: it can't change the tier.
        None => {}
    }
    report(draft, ladder, changes, pending_before, state);
    Ok(misplaced)
}

/// Where a member stands on the ladder at some moment, as [`Engine::tier_at`](crate::Engine::tier_at)
/// reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierStatus {
    /// The level's id.
    pub level: Tag,
    /// What the level gives.
    pub benefits: TierBenefits,
    /// The metric over the current window, in the metric's unit: money in the program
    /// currency (`net_spend`), orders (`purchases`) or points (`points_earned`).
    pub metric: Decimal,
    /// The next level up, if any.
    pub next_level: Option<Tag>,
    /// How much more metric the next level needs, in the metric's unit.
    pub missing_for_next: Option<Decimal>,
    /// When the level is next reviewed; `None` when it can't go down.
    pub next_review: Option<DateTime<Utc>>,
    /// The level the next review will take the member to if nothing changes before it; `None`
    /// when the member keeps the level.
    pub downgrade_at_next_review: Option<Tag>,
    /// A downgrade already decided, and when it takes effect unless the member requalifies.
    pub downgrade_pending: Option<(Tag, DateTime<Utc>)>,
}

/// The status of a settled tier state at its current moment.
pub(crate) fn status(ladder: &Ladder<'_>, state: &TierState) -> Result<TierStatus, EvalError> {
    let run = &state.current;
    let levels = &ladder.tiers.levels;
    let level = &levels[run.level as usize];
    let metric = ladder.live_metric(&state.contributions, run.at)?;
    let next = levels.get(run.level as usize + 1);
    let downgrade_at_next_review = match run.next_review {
        Some(at) => {
            let reviewed = ladder.reviewed_level(&state.contributions, at, run.level)?;
            (reviewed < run.level).then(|| levels[reviewed as usize].id.clone())
        }
        None => None,
    };
    Ok(TierStatus {
        level: level.id.clone(),
        benefits: level.benefits.clone(),
        metric,
        next_level: next.map(|next| next.id.clone()),
        missing_for_next: next.map(|next| next.threshold - metric),
        // A calendar window is reviewed at every period's end, but the lowest level can't go down.
        next_review: run.next_review.filter(|_| run.level > 0),
        downgrade_at_next_review,
        downgrade_pending: run.downgrade.map(|pending| (levels[pending.level as usize].id.clone(), pending.at)),
    })
}

/// The member's tier at the draft's time, settled: for [`Engine::tier_at`](crate::Engine::tier_at).
pub(crate) fn tier_at(draft: &mut Draft<'_>) -> Result<Option<TierStatus>, EvalError> {
    let Some(ladder) = ladder(draft) else { return Ok(None) };
    settle(draft)?;
    let mut state = working_copy(draft, &ladder)?;
    state.current.at = draft.at;
    Ok(Some(status(&ladder, &state)?))
}
