//! Paid membership: buying, renewing and ending a plan.

use chrono::{DateTime, Months, Utc};

use crate::engine::draft::Draft;
use crate::engine::{EvalError, checked};
use crate::event::{BuyMembership, EndMembership};
use crate::ledger::Membership;

pub(super) fn buy(draft: &mut Draft<'_>, event: &BuyMembership) -> Result<(), EvalError> {
    let program = &draft.program.program;
    let Some(plan) = program.memberships.iter().find(|plan| plan.id == event.plan) else {
        return Err(EvalError::UnknownPlan { plan: event.plan.clone() });
    };
    draft.settle()?;
    // Bought again while the same plan runs, it extends the running membership.
    let renewed = draft.state.membership().filter(|held| held.plan == plan.id && held.runs_at(event.at));
    let (since, from) = match renewed {
        Some(held) => (held.since, held.until),
        None => (event.at, event.at),
    };
    let until = checked(months_after(from, plan.months, program.utc_offset.0))?;
    draft.outcome.membership = Some(Box::new(Membership { plan: plan.id.clone(), since, until }));
    Ok(())
}

pub(super) fn end(draft: &mut Draft<'_>, event: &EndMembership) -> Result<(), EvalError> {
    let Some(running) = draft.state.membership().filter(|held| held.runs_at(event.at)) else {
        return Err(EvalError::NoMembership { member: event.member.clone() });
    };
    let ended = Membership { until: event.at, ..running.clone() };
    draft.settle()?;
    draft.outcome.membership = Some(Box::new(ended));
    Ok(())
}

/// `months` calendar months after `from`, in the program's offset (the 31st of a shorter month
/// falls on its last day); `None` past the calendar.
fn months_after(from: DateTime<Utc>, months: u32, offset: chrono::FixedOffset) -> Option<DateTime<Utc>> {
    let local = from.with_timezone(&offset).checked_add_months(Months::new(months))?;
    Some(local.with_timezone(&Utc))
}
