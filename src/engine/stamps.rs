//! Stamp cards: stamps for qualifying units, rewards for full cards, and returns that take both
//! back.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::amount::ceiling_to;
use crate::engine::draft::Draft;
use crate::engine::purchase::OrderContext;
use crate::engine::{EvalError, MAX_REWARDS_PER_EVENT, checked};
use crate::event::{Purchase, RewardEvent};
use std::collections::BTreeMap;

use crate::amount::Ratio;
use crate::id::{FunderId, RewardId, Tag};
use crate::ledger::{Account, Asset, MemberState, Notice, Receipt, ReceiptLine, Reward, RewardStatus, StampEarning};
use crate::program::{CompiledCard, RewardKind};

/// Stamps the order's lines earn, by card; posts them and fills cards. Inlined (see the module
/// `engine`): many programs have no stamp cards.
#[inline(always)]
pub(crate) fn earn(
    draft: &mut Draft<'_>,
    order: &OrderContext<'_>,
    lines: &[ReceiptLine],
) -> Result<Vec<StampEarning>, EvalError> {
    if draft.program.cards.is_empty() {
        return Ok(Vec::new());
    }
    earn_on_cards(draft, order, lines)
}

/// [`earn`] for a program with stamp cards.
#[inline(never)]
fn earn_on_cards(
    draft: &mut Draft<'_>,
    order: &OrderContext<'_>,
    lines: &[ReceiptLine],
) -> Result<Vec<StampEarning>, EvalError> {
    let (purchase, seller) = (order.purchase, order.seller);
    let cards = &draft.program.cards;
    let mut earned = Vec::new();
    let matches_order = |compiled: &&CompiledCard| {
        compiled.when.matches_order(purchase, order.eligible_total, order.tier, order.birthday, order.plan)
    };
    for compiled in cards.iter().filter(matches_order) {
        for (index, (line, bought)) in purchase.lines.iter().zip(lines).enumerate() {
            if !bought.eligible || !compiled.when.matches_line(line) {
                continue;
            }
            let per_unit = Decimal::from(compiled.card.stamps_per_unit);
            let stamps = checked(checked(bought.qty.checked_mul(per_unit))?.floor().to_u32())?;
            if stamps > 0 {
                let line = u32::try_from(index).expect("lines are limited far below u32::MAX");
                let (card, min_order_total) = (compiled.card.id.clone(), compiled.when.min_order_total);
                earned.push(StampEarning { line, card, stamps, taken_back: 0, lost: 0, min_order_total });
            }
        }
    }
    for compiled in cards {
        let total: u64 = earned
            .iter()
            .filter(|earning| earning.card == compiled.card.id)
            .map(|earning| u64::from(earning.stamps))
            .sum();
        if total > 0 {
            let (asset, owner) = (Asset::Stamps(compiled.card.id.clone()), draft.program.program.owner.clone());
            draft.post_in(&asset, Account::Funder(owner), Account::Available, Decimal::from(total), None)?;
            let lost = fill(draft, compiled, purchase, seller)?;
            mark_lost(&mut earned, &compiled.card.id, lost);
        }
    }
    Ok(earned)
}

/// Uses up the stamps of every full card (one, without carry-over) and issues their rewards,
/// all at once. Returns how many stamps expired because the card does not carry surplus
/// stamps over.
fn fill(
    draft: &mut Draft<'_>,
    compiled: &CompiledCard,
    purchase: &Purchase,
    seller: &FunderId,
) -> Result<u32, EvalError> {
    let card = &compiled.card;
    let asset = Asset::Stamps(card.id.clone());
    let needed = Decimal::from(card.stamps_needed);
    let held = draft.unlotted_balance(&Account::Available, &asset);
    if held < needed {
        return Ok(0);
    }
    // Without carry-over one card fills and the rest is lost, however much was bought.
    let full_cards = if card.carry_over { (held / needed).floor() } else { Decimal::ONE };
    if full_cards > Decimal::from(MAX_REWARDS_PER_EVENT) {
        return Err(EvalError::TooManyRewards { card: card.id.clone(), rewards: full_cards });
    }
    let used = checked(full_cards.checked_mul(needed))?;
    draft.post_in(&asset, Account::Available, Account::Redeemed, used, None)?;
    for _ in 0..checked(full_cards.to_u32())? {
        issue(draft, compiled, purchase, seller)?;
    }
    if card.carry_over {
        return Ok(0);
    }
    // What did not fit on the cards is lost, as the program says.
    let surplus = held - used;
    draft.post_in(&asset, Account::Available, Account::Expired, surplus, None)?;
    checked(surplus.to_u32())
}

/// Marks the stamps a fill lost as the latest ones the purchase earned on the card. Without
/// carry-over the stamps held before never fill a card on their own, so the surplus is this
/// order's; only a card that carried over before a program change can lose more, and those
/// older stamps are no order's to give back.
fn mark_lost(earned: &mut [StampEarning], card: &Tag, mut lost: u32) {
    for earning in earned.iter_mut().rev().filter(|earning| earning.card == *card) {
        earning.lost = lost.min(earning.stamps);
        lost -= earning.lost;
    }
}

fn issue(
    draft: &mut Draft<'_>,
    compiled: &CompiledCard,
    purchase: &Purchase,
    seller: &FunderId,
) -> Result<(), EvalError> {
    let state = draft.state;
    let new = draft.rewards.iter().filter(|reward| state.rewards().iter().all(|held| held.id != reward.id)).count();
    let id = RewardId::new(&format!("r-{}", state.rewards().len() + new + 1)).expect("a short id");
    let mut funded_by: BTreeMap<FunderId, Ratio> =
        compiled.funders.iter().map(|(funder, share)| (funder.clone(), (*share).into())).collect();
    if funded_by.is_empty() {
        funded_by.insert(seller.clone(), Ratio::new(Decimal::ONE));
    }
    draft.rewards.push(Reward {
        id: id.clone(),
        card: compiled.card.id.clone(),
        kind: compiled.card.reward.clone(),
        funded_by,
        issued_at: draft.at,
        order: purchase.order.clone(),
        status: RewardStatus::Issued,
        closed_by: None,
        closed_at: None,
    });
    draft.outcome.notices.push(Notice::RewardIssued { reward: id, card: compiled.card.id.clone() });
    Ok(())
}

/// Takes back the stamps of the units a return brings back: for each line, what its returned
/// units earned, rounded up, less what earlier returns took; every stamp of a card whose order
/// minimum the kept order (worth `kept_total`) no longer meets. A line's stamps that a full card
/// left over and lost come back first, and the order's lost stamps move to the lines returned
/// ([`move_lost_to_returned_lines`]), so returning the surplus never costs a reward. Stamps a
/// full card already used come back by revoking that card's latest unused reward; with none
/// left, the count goes negative.
pub(crate) fn take_back(draft: &mut Draft<'_>, receipt: &mut Receipt, kept_total: Decimal) -> Result<(), EvalError> {
    let Receipt { lines, stamps, .. } = receipt;
    let mut targets = Vec::with_capacity(stamps.len());
    for earning in stamps.iter() {
        let line = &lines[earning.line as usize];
        let target = if earning.revoked(kept_total) {
            earning.stamps
        } else {
            let returned = checked(Decimal::from(earning.stamps).checked_mul(line.returned_qty))?;
            checked(ceiling_to(checked(returned.checked_div(line.qty))?, 0).to_u32())?.min(earning.stamps)
        };
        // Only grows, whatever a stored receipt says was taken back already.
        targets.push(target.max(earning.taken_back));
    }
    move_lost_to_returned_lines(stamps, &targets);
    // By card: stamps taken from those the order lost to a full card, and from those held.
    let mut by_card: Vec<(Tag, u64, u64)> = Vec::new();
    for (earning, target) in stamps.iter_mut().zip(targets) {
        // The lost stamps go back first: they never counted towards a reward.
        let from_lost = u64::from(target.min(earning.lost) - earning.taken_back.min(earning.lost));
        let delta = u64::from(target - earning.taken_back) - from_lost;
        earning.taken_back = target;
        match by_card.iter_mut().find(|(card, _, _)| *card == earning.card) {
            Some((_, lost, held)) => (*lost, *held) = (*lost + from_lost, *held + delta),
            None => by_card.push((earning.card.clone(), from_lost, delta)),
        }
    }
    let owner = Account::Funder(draft.program.program.owner.clone());
    for (card, lost, held) in by_card {
        let asset = Asset::Stamps(card.clone());
        draft.post_in(&asset, Account::Expired, owner.clone(), Decimal::from(lost), None)?;
        if held > 0 {
            draft.post_in(&asset, Account::Available, owner.clone(), Decimal::from(held), None)?;
            revoke_until_covered(draft, &card)?;
        }
    }
    Ok(())
}

/// Moves the marks of lost stamps that this return leaves where they are (past their line's
/// `target`) to lines of the same card whose stamps it takes back beyond their own lost ones.
/// Which of an order's stamps were lost is a convention (the purchase marks the last ones), and
/// a line gives its lost stamps back first, so a mark may only move to a line that has given
/// back nothing but lost stamps so far; receipts stored before marks moved keep their meaning.
fn move_lost_to_returned_lines(stamps: &mut [StampEarning], targets: &[u32]) {
    for to in 0..stamps.len() {
        if stamps[to].taken_back > stamps[to].lost {
            continue;
        }
        let mut wanted = targets[to].saturating_sub(stamps[to].lost);
        for from in 0..stamps.len() {
            if wanted == 0 {
                break;
            }
            if from == to || stamps[from].card != stamps[to].card {
                continue;
            }
            let spare = stamps[from].lost.saturating_sub(targets[from].max(stamps[from].taken_back));
            let moved = wanted.min(spare);
            stamps[from].lost -= moved;
            stamps[to].lost += moved;
            wanted -= moved;
        }
    }
}

fn revoke_until_covered(draft: &mut Draft<'_>, card: &Tag) -> Result<(), EvalError> {
    let asset = Asset::Stamps(card.clone());
    let Some(compiled) = draft.program.cards.iter().find(|compiled| compiled.card.id == *card) else {
        // A card the program no longer has: its stamps still come back, no reward is touched.
        return Ok(());
    };
    let needed = Decimal::from(compiled.card.stamps_needed);
    let mut held = draft.unlotted_balance(&Account::Available, &asset);
    loop {
        if held >= Decimal::ZERO {
            return Ok(());
        }
        let Some(mut reward) = latest_unused(draft, card) else {
            let stamps = checked((-held).to_u32())?;
            draft.outcome.notices.push(Notice::StampsOwed { card: card.clone(), stamps });
            return Ok(());
        };
        draft.post_in(&asset, Account::Redeemed, Account::Available, needed, None)?;
        held += needed;
        close(draft, &mut reward, RewardStatus::Revoked);
        draft.outcome.notices.push(Notice::RewardRevoked { reward: reward.id.clone(), card: card.clone() });
        record(draft, reward);
    }
}

/// The card's most recently issued reward that is still unused, as the draft has it.
fn latest_unused(draft: &Draft<'_>, card: &Tag) -> Option<Reward> {
    let held = draft.state.rewards();
    let new = draft.rewards.iter().filter(|reward| held.iter().all(|old| old.id != reward.id));
    let all = held.iter().map(|reward| current(draft, reward)).chain(new);
    all.rev().find(|reward| reward.card == *card && reward.status == RewardStatus::Issued).cloned()
}

/// A reward as the draft has it: its latest change, else as the state holds it.
fn current<'a>(draft: &'a Draft<'_>, reward: &'a Reward) -> &'a Reward {
    draft.rewards.iter().find(|changed| changed.id == reward.id).unwrap_or(reward)
}

fn close(draft: &Draft<'_>, reward: &mut Reward, status: RewardStatus) {
    reward.status = status;
    reward.closed_by = Some(draft.outcome.event.clone());
    reward.closed_at = Some(draft.at);
}

/// Keeps the draft's latest version of a reward.
fn record(draft: &mut Draft<'_>, reward: Reward) {
    match draft.rewards.iter_mut().find(|changed| changed.id == reward.id) {
        Some(changed) => *changed = reward,
        None => draft.rewards.push(reward),
    }
}

/// The reward an event names, still unused.
fn open_reward(draft: &Draft<'_>, event: &RewardEvent) -> Result<Reward, EvalError> {
    let held = draft.state.rewards().iter().find(|reward| reward.id == event.reward);
    let Some(reward) = held.map(|held| current(draft, held)) else {
        return Err(EvalError::UnknownReward { member: event.member.clone(), reward: event.reward.clone() });
    };
    if reward.status != RewardStatus::Issued {
        return Err(EvalError::RewardClosed { reward: reward.id.clone(), status: reward.status });
    }
    Ok(reward.clone())
}

/// The host used a reward: a points reward credits its points, available at once, in one lot
/// per funder.
pub(super) fn redeem_reward(draft: &mut Draft<'_>, event: &RewardEvent) -> Result<(), EvalError> {
    let mut reward = open_reward(draft, event)?;
    draft.settle()?;
    if let RewardKind::Points(points) = reward.kind {
        let funders: Vec<(FunderId, Decimal)> =
            reward.funded_by.iter().map(|(funder, share)| (funder.clone(), share.value())).collect();
        draft.credit_points(&funders, points.value(), draft.at)?;
    }
    close(draft, &mut reward, RewardStatus::Redeemed);
    record(draft, reward);
    Ok(())
}

/// The host cancelled a reward.
pub(super) fn void_reward(draft: &mut Draft<'_>, event: &RewardEvent) -> Result<(), EvalError> {
    let mut reward = open_reward(draft, event)?;
    draft.settle()?;
    close(draft, &mut reward, RewardStatus::Voided);
    record(draft, reward);
    Ok(())
}

/// How far a member is on one stamp card, as [`Engine::stamp_cards`](crate::Engine::stamp_cards)
/// reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StampProgress {
    /// The card.
    pub card: Tag,
    /// Stamps held; negative while the member owes stamps a return took back from a card whose
    /// reward was used.
    pub stamps: Decimal,
    /// Stamps that fill the card.
    pub stamps_needed: u32,
    /// Stamps still to earn before the next reward.
    pub stamps_left: Decimal,
    /// Rewards of this card issued and not yet used.
    pub unused_rewards: usize,
}

pub(crate) fn progress(cards: &[CompiledCard], state: &MemberState) -> Vec<StampProgress> {
    cards
        .iter()
        .map(|compiled| {
            let card = &compiled.card;
            let stamps = state.balance(&Account::Available, Asset::Stamps(card.id.clone()));
            let unused = state.rewards().iter().filter(|reward| reward.card == card.id);
            StampProgress {
                card: card.id.clone(),
                stamps,
                stamps_needed: card.stamps_needed,
                stamps_left: Decimal::from(card.stamps_needed) - stamps,
                unused_rewards: unused.filter(|reward| reward.status == RewardStatus::Issued).count(),
            }
        })
        .collect()
}
