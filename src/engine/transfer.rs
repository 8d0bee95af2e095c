//! Transfers: points one member gives another, sent from the giver's lots and received, as a
//! follow-up, into the recipient's.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::amount::Points;
use crate::engine::draft::Draft;
use crate::engine::redeem::{check_available, check_points};
use crate::engine::{EvalError, MAX_LOTS_PER_TRANSFER, TRANSFER_FOLLOW_UP, check_decimal, follow_up_id};
use crate::event::{Event, ReceiveTransfer, Transfer, TransferredPoints};
use crate::ledger::{Account, Asset, Lot};

/// Takes the points out of the sender's available lots, soonest-expiring first, into
/// `transfers`, and writes the recipient's follow-up: the points of each funder and expiry.
pub(super) fn send(draft: &mut Draft<'_>, transfer: &Transfer) -> Result<(), EvalError> {
    let program = &draft.program.program;
    let Some(transfers) = program.transfers.as_ref() else { return Err(EvalError::TransfersNotOffered) };
    if transfer.to == transfer.member {
        return Err(EvalError::SelfTransfer { member: transfer.member.clone() });
    }
    let points = check_points(program, transfer.points.value())?;
    let (min_points, max_points) = (transfers.min_points, transfers.max_points);
    if points < min_points.value() || max_points.is_some_and(|max| points > max.value()) {
        return Err(EvalError::TransferOutOfLimits { points: transfer.points, min_points, max_points });
    }
    let id = follow_up_id(&transfer.id, TRANSFER_FOLLOW_UP)?;
    draft.settle()?;
    check_available(draft, points)?;
    let mut lots: Vec<TransferredPoints> = Vec::new();
    let short = draft.take_available(
        &Asset::Points,
        points,
        |_| Some(Account::Transfers),
        |lot, taken| {
            add_to_its_lot(&mut lots, lot, taken);
        },
    )?;
    assert!(short.is_zero(), "the points were checked against what is available");
    if lots.len() > MAX_LOTS_PER_TRANSFER {
        return Err(EvalError::TransferTooFragmented { lots: lots.len() });
    }
    let at = draft.at;
    let (member, from) = (transfer.to.clone(), transfer.member.clone());
    draft.outcome.follow_ups = Box::new([Event::ReceiveTransfer(ReceiveTransfer { id, member, at, from, lots })]);
    Ok(())
}

/// Adds points taken from `lot` to the entry of its funder and expiry, so that every point
/// keeps its own expiry: merged further, a point would expire sooner or later than it would
/// have. Lots are taken in expiry order, so entries of the lot's expiry are the last ones: a
/// look at those, not at them all, keeps a transfer from many lots linear.
fn add_to_its_lot(lots: &mut Vec<TransferredPoints>, lot: &Lot, taken: Decimal) {
    let mut same_expiry = lots.iter_mut().rev().take_while(|entry| entry.expires_at == lot.expires_at);
    match same_expiry.find(|entry| entry.funder == lot.funder) {
        Some(entry) => entry.points = Points::new(entry.points.value() + taken),
        None => lots.push(TransferredPoints {
            funder: lot.funder.clone(),
            points: Points::new(taken),
            expires_at: lot.expires_at,
        }),
    }
}

/// Opens an available lot per entry, from `transfers`. The points repay a debt first; then, up
/// to the net points the member has given away by transfer (sent less received), they settle
/// what a `stop_at_zero` program forgave the member: else points given away before a return
/// and given back after it would escape the clawback, while a member who never gave points
/// away keeps every gift. Those that expired before they arrived (a follow-up applied late)
/// expire at once.
pub(super) fn receive(draft: &mut Draft<'_>, transfer: &ReceiveTransfer) -> Result<(), EvalError> {
    if transfer.from == transfer.member {
        return Err(EvalError::SelfTransfer { member: transfer.member.clone() });
    }
    if transfer.lots.is_empty() || transfer.lots.len() > MAX_LOTS_PER_TRANSFER {
        return Err(EvalError::TransferTooFragmented { lots: transfer.lots.len() });
    }
    // Not the program's places: the points were issued already, perhaps under another rounding.
    for entry in &transfer.lots {
        let points = check_decimal(None, "points", entry.points.value())?;
        if points <= Decimal::ZERO {
            return Err(EvalError::InvalidPoints { points: entry.points });
        }
    }
    draft.settle()?;
    let at = draft.at;
    let mut coming_back = draft.unlotted_balance(&Account::Transfers, &Asset::Points).max(Decimal::ZERO);
    for entry in &transfer.lots {
        let lot = draft.open_lot(Asset::Points, entry.funder.clone(), None, at, entry.expires_at, None);
        draft.post(Account::Transfers, Account::Available, entry.points.value(), Some(lot))?;
        if expired(entry.expires_at, at) {
            draft.post(Account::Available, Account::Expired, entry.points.value(), Some(lot))?;
        } else {
            draft.repay_debt(lot)?;
            draft.settle_forgiven_up_to(lot, coming_back)?;
        }
        coming_back = (coming_back - entry.points.value()).max(Decimal::ZERO);
    }
    Ok(())
}

fn expired(expires_at: Option<DateTime<Utc>>, at: DateTime<Utc>) -> bool {
    expires_at.is_some_and(|expires_at| expires_at <= at)
}
