//! Enrolling a member.

use crate::engine::draft::Draft;
use crate::engine::{EvalError, REFERRAL_FOLLOW_UP, follow_up_id};
use crate::event::{Enroll, Event, Referral};
use crate::ledger::Enrollment;
use crate::program::BonusTrigger;

pub(super) fn evaluate(draft: &mut Draft<'_>, enroll: &Enroll) -> Result<(), EvalError> {
    if draft.state.enrollment().is_some() {
        return Err(EvalError::AlreadyEnrolled { member: enroll.member.clone() });
    }
    if enroll.referred_by.as_ref() == Some(&enroll.member) {
        return Err(EvalError::SelfReferral { member: enroll.member.clone() });
    }
    let referral = referral(draft, enroll)?;
    draft.settle()?;
    let enrollment = Enrollment { at: enroll.at, referred_by: enroll.referred_by.clone(), birthday: enroll.birthday };
    draft.outcome.enrollment = Some(Box::new(enrollment));
    crate::engine::bonuses::on_enroll(draft, enroll.referred_by.is_some())?;
    draft.outcome.follow_ups = referral.into_iter().collect();
    Ok(())
}

/// The referrer's follow-up, in a program with bonuses on `referral`.
fn referral(draft: &Draft<'_>, enroll: &Enroll) -> Result<Option<Event>, EvalError> {
    let Some(referrer) = &enroll.referred_by else { return Ok(None) };
    if !draft.program.bonuses.iter().any(|compiled| compiled.bonus.on == BonusTrigger::Referral) {
        return Ok(None);
    }
    let id = follow_up_id(&enroll.id, REFERRAL_FOLLOW_UP)?;
    let (member, referred) = (referrer.clone(), enroll.member.clone());
    Ok(Some(Event::Referral(Referral { id, member, at: enroll.at, referred })))
}
