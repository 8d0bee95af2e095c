//! Enrolling a member.

use crate::engine::EvalError;
use crate::engine::draft::Draft;
use crate::event::Enroll;
use crate::ledger::Enrollment;

pub(super) fn evaluate(draft: &mut Draft<'_>, enroll: &Enroll) -> Result<(), EvalError> {
    if draft.state.enrollment().is_some() {
        return Err(EvalError::AlreadyEnrolled { member: enroll.member.clone() });
    }
    if enroll.referred_by.as_ref() == Some(&enroll.member) {
        return Err(EvalError::SelfReferral { member: enroll.member.clone() });
    }
    draft.settle()?;
    let enrollment = Enrollment { at: enroll.at, referred_by: enroll.referred_by.clone(), birthday: enroll.birthday };
    draft.outcome.enrollment = Some(Box::new(enrollment));
    crate::engine::bonuses::on_enroll(draft, enroll.referred_by.is_some())
}
