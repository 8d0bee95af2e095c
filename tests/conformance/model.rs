//! The reference every store is held to: the pure engine over a map of states, with the
//! ledger's rules for event ids (a replay gets the first outcome, a reused id is a conflict, a
//! refused event is not recorded). And a generator of histories, resolved against the model's
//! states so that most steps are valid, with replays, reused ids, overspending and stale
//! events mixed in.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use loyalty_engine::{
    Account, Asset, Engine, EvalError, Event, EventId, LedgerError, MemberId, MemberState, Outcome, Posting, Program,
    Recorded, Store,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

use crate::backends::Backend;

pub fn event(json: &str) -> Event {
    serde_json::from_str(json).unwrap_or_else(|error| panic!("test event does not parse: {error}\n{json}"))
}

pub fn engine(json: &str) -> Engine {
    let program: Program =
        serde_json::from_str(json).unwrap_or_else(|error| panic!("test program does not parse: {error}\n{json}"));
    program.compile().expect("test program compiles")
}

pub fn member(id: &str) -> MemberId {
    MemberId::new(id).unwrap()
}

/// What applying an event through the ledger should give.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    Applied(Arc<Outcome>),
    Rejected(EvalError),
    Conflict,
}

/// What applying an event through the ledger gave; store failures are test failures.
pub fn observed(result: Result<Arc<Outcome>, LedgerError>) -> Expect {
    match result {
        Ok(outcome) => Expect::Applied(outcome),
        Err(LedgerError::Rejected(error)) => Expect::Rejected(error),
        Err(LedgerError::Conflict { .. }) => Expect::Conflict,
        Err(other) => panic!("the store failed: {other}"),
    }
}

pub struct Model {
    pub engine: Engine,
    states: BTreeMap<MemberId, MemberState>,
    recorded: HashMap<EventId, Recorded>,
    by_member: BTreeMap<MemberId, Vec<Recorded>>,
}

impl Model {
    pub fn new(engine: Engine) -> Model {
        Model { engine, states: BTreeMap::new(), recorded: HashMap::new(), by_member: BTreeMap::new() }
    }

    pub fn apply(&mut self, event: &Event) -> Expect {
        if let Some(recorded) = self.recorded.get(event.id()) {
            return if recorded.event == *event { Expect::Applied(recorded.outcome.clone()) } else { Expect::Conflict };
        }
        let state = self.state(event.member());
        match self.engine.evaluate(&state, event) {
            Err(error) => Expect::Rejected(error),
            Ok(outcome) => {
                let mut next = state;
                next.apply(&outcome);
                self.states.insert(event.member().clone(), next);
                let outcome = Arc::new(outcome);
                let recorded = Recorded { event: event.clone(), outcome: Arc::clone(&outcome) };
                self.recorded.insert(event.id().clone(), recorded.clone());
                self.by_member.entry(event.member().clone()).or_default().push(recorded);
                // As the ledger does: each follow-up in turn, right after its event.
                for follow_up in &outcome.follow_ups {
                    let applied = self.apply(follow_up);
                    assert!(matches!(applied, Expect::Applied(_)), "follow-up {}: {applied:?}", follow_up.id());
                }
                Expect::Applied(outcome)
            }
        }
    }

    pub fn state(&self, member: &MemberId) -> MemberState {
        self.states.get(member).cloned().unwrap_or_else(|| MemberState::new(member.clone()))
    }

    pub fn version(&self, member: &MemberId) -> u64 {
        self.by_member.get(member).map_or(0, |events| events.len() as u64)
    }

    pub fn recorded_count(&self) -> usize {
        self.recorded.len()
    }

    /// How many of the recorded events are follow-ups (a transfer's `receive_transfer`).
    pub fn follow_up_count(&self) -> usize {
        self.recorded.values().filter(|recorded| matches!(recorded.event, Event::ReceiveTransfer(_))).count()
    }
}

/// The database holds exactly what the model says: each member's state and version, each
/// member's events and outcomes in commit order, the postings table, and balances that are the
/// fold of the stored postings. Read through connections of their own.
pub fn check_matches<B: Backend>(backend: &B, model: &Model) -> Result<(), String> {
    let mut store = backend.connect();
    for (member, state) in &model.states {
        let loaded = store.load(member).map_err(|error| format!("load {member}: {error}"))?;
        if loaded.state != *state {
            return Err(format!("member {member}: stored state differs from the model's"));
        }
        if loaded.version != model.version(member) {
            return Err(format!("member {member}: version {} instead of {}", loaded.version, model.version(member)));
        }
    }
    let members = backend.members();
    let expected: Vec<&MemberState> = model.states.values().collect();
    if members.iter().collect::<Vec<_>>() != expected {
        return Err(format!("{} members stored, the model has {}", members.len(), expected.len()));
    }
    let mut committed: BTreeMap<MemberId, Vec<Recorded>> = BTreeMap::new();
    for recorded in backend.committed() {
        committed.entry(recorded.outcome.member.clone()).or_default().push(recorded);
    }
    if committed != model.by_member {
        return Err("the committed events or outcomes differ from the model's".to_owned());
    }
    for (member, events) in &model.by_member {
        let postings: Vec<Posting> = events.iter().flat_map(|recorded| recorded.outcome.postings.clone()).collect();
        let stored = backend.postings(member);
        if stored != postings {
            return Err(format!("member {member}: the postings table differs from the outcomes' postings"));
        }
        let state = &model.states[member];
        let held: BTreeMap<(Account, Asset), Decimal> = state
            .balances()
            .filter(|(_, _, amount)| !amount.is_zero())
            .map(|(account, asset, amount)| ((account.clone(), asset.clone()), amount))
            .collect();
        if crate::common::fold(&stored) != held {
            return Err(format!("member {member}: the stored postings do not fold to the stored balances"));
        }
        for recorded in events {
            let found = store.recorded(recorded.event.id()).map_err(|error| format!("recorded: {error}"))?;
            if found.as_ref() != Some(recorded) {
                return Err(format!("event {} is not recorded as applied", recorded.event.id()));
            }
        }
    }
    Ok(())
}

const MEMBERS: [&str; 3] = ["m-0", "m-1", "m-2"];
const SKUS: [&str; 3] = ["a", "b", "c"];
const POLICIES: [&str; 3] = ["negative_balance", "deduct_from_refund", "stop_at_zero"];

/// The program a history runs under, varied where it matters to what gets stored.
#[derive(Clone, Debug)]
pub struct Setup {
    policy: &'static str,
    vesting_days: u32,
    expiry_days: Option<u32>,
}

impl Setup {
    pub fn engine(&self) -> Engine {
        engine(&crate::common::history_program(self.policy, self.vesting_days, self.expiry_days, 0))
    }
}

pub fn setups() -> impl Strategy<Value = Setup> {
    (0..POLICIES.len(), prop_oneof![Just(0u32), Just(7)], prop_oneof![Just(None), Just(Some(30u32))])
        .prop_map(|(policy, vesting_days, expiry_days)| Setup { policy: POLICIES[policy], vesting_days, expiry_days })
}

/// One step of a history in raw numbers, resolved against the model's state when it is taken.
#[derive(Clone, Debug)]
pub enum Step {
    Purchase {
        member: usize,
        lines: Vec<(usize, u32, u32)>,
        pay_percent: u32,
    },
    Return {
        member: usize,
        order_pick: usize,
        line_pick: usize,
        qty: u32,
    },
    Redeem {
        member: usize,
        percent: u32,
    },
    /// Points given to another member, whose follow-up the store applies too.
    Transfer {
        member: usize,
        to_offset: usize,
        percent: u32,
    },
    Tick {
        member: usize,
    },
    /// An earlier event sent again, as a host does after a crash.
    Resend {
        pick: usize,
    },
    /// An earlier event's id on other content.
    Reuse {
        pick: usize,
    },
    /// A redemption of more points than the member has.
    Overspend {
        member: usize,
    },
    /// An event older than the member's last one.
    Stale {
        member: usize,
    },
}

/// Steps, each with the hours that pass before it and whether it starts a new chunk (a batch,
/// for stores that have them).
pub fn steps() -> impl Strategy<Value = Vec<(u32, bool, Step)>> {
    let member = 0..MEMBERS.len();
    let line = (0..SKUS.len(), 1u32..4, 100u32..200_000);
    let step = prop_oneof![
        6 => (member.clone(), prop::collection::vec(line, 1..4), prop_oneof![Just(0u32), 0u32..=100])
            .prop_map(|(member, lines, pay_percent)| Step::Purchase { member, lines, pay_percent }),
        3 => (member.clone(), any::<usize>(), any::<usize>(), 1u32..4)
            .prop_map(|(member, order_pick, line_pick, qty)| Step::Return { member, order_pick, line_pick, qty }),
        3 => (member.clone(), 1u32..=100).prop_map(|(member, percent)| Step::Redeem { member, percent }),
        2 => (member.clone(), 1..MEMBERS.len(), 1u32..=100)
            .prop_map(|(member, to_offset, percent)| Step::Transfer { member, to_offset, percent }),
        1 => member.clone().prop_map(|member| Step::Tick { member }),
        1 => any::<usize>().prop_map(|pick| Step::Resend { pick }),
        1 => any::<usize>().prop_map(|pick| Step::Reuse { pick }),
        1 => member.clone().prop_map(|member| Step::Overspend { member }),
        1 => member.prop_map(|member| Step::Stale { member }),
    ];
    prop::collection::vec((0u32..240, prop::bool::weighted(0.3), step), 2..40)
}

/// Resolves steps into events against the model, applying each to it: the events and what
/// each should give, cut into chunks.
pub fn resolve(model: &mut Model, steps: &[(u32, bool, Step)]) -> Vec<Vec<(Event, Expect)>> {
    let mut chunks: Vec<Vec<(Event, Expect)>> = vec![Vec::new()];
    let mut sent: Vec<Event> = Vec::new();
    let mut orders: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut at: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    for (index, (hours, new_chunk, step)) in steps.iter().enumerate() {
        at += Duration::hours(i64::from(*hours));
        let Some(event) = step_event(model, &sent, &mut orders, step, index, at) else { continue };
        if *new_chunk && !chunks.last().unwrap().is_empty() {
            chunks.push(Vec::new());
        }
        let expect = model.apply(&event);
        sent.push(event.clone());
        chunks.last_mut().unwrap().push((event, expect));
    }
    chunks
}

fn step_event(
    model: &Model,
    sent: &[Event],
    orders: &mut BTreeMap<usize, Vec<String>>,
    step: &Step,
    index: usize,
    at: DateTime<Utc>,
) -> Option<Event> {
    let head = |member: usize, at: DateTime<Utc>| {
        format!(r#""id":"e-{index}","member":"{}","at":"{}""#, MEMBERS[member], at.to_rfc3339())
    };
    let state = |member: usize| model.state(&crate::model::member(MEMBERS[member]));
    let spendable = |member: usize| model.engine.points_at(&state(member), at).unwrap().available.value();
    let json = match step {
        Step::Purchase { member, lines, pay_percent } => {
            let order = format!("o-{index}");
            let mut total = Decimal::ZERO;
            let lines: Vec<String> = lines
                .iter()
                .map(|(sku, qty, cents)| {
                    let price = Decimal::new(i64::from(*cents), 2);
                    total += price * Decimal::from(*qty);
                    let category = if *sku == 2 { r#","category":"cat-c""# } else { "" };
                    format!(r#"{{"sku":"{}","qty":"{qty}","unit_price":"{price}"{category}}}"#, SKUS[*sku])
                })
                .collect();
            let cap = (total * Decimal::new(5, 1) / Decimal::new(1, 1)).floor();
            let pay = (spendable(*member).min(cap) * Decimal::from(*pay_percent) / Decimal::ONE_HUNDRED).floor();
            orders.entry(*member).or_default().push(order.clone());
            format!(
                r#"{{"type":"purchase",{},"order":"{order}","lines":[{}],"pay_with_points":"{pay}"}}"#,
                head(*member, at),
                lines.join(",")
            )
        }
        Step::Return { member, order_pick, line_pick, qty } => {
            let member_orders = orders.get(member)?;
            let order = member_orders.get(order_pick % member_orders.len().max(1))?;
            let state = state(*member);
            let receipt = state.order(&order.parse().unwrap())?;
            let open: Vec<_> = receipt.lines.iter().filter(|line| line.returned_qty < line.qty).collect();
            let line = open.get(line_pick % open.len().max(1))?;
            let qty = Decimal::from(*qty).min(line.qty - line.returned_qty);
            format!(
                r#"{{"type":"return",{},"order":"{order}","lines":[{{"sku":"{}","qty":"{qty}"}}]}}"#,
                head(*member, at),
                line.sku
            )
        }
        Step::Redeem { member, percent } => {
            let points = (spendable(*member) * Decimal::from(*percent) / Decimal::ONE_HUNDRED).floor();
            if points.is_zero() {
                return None;
            }
            format!(r#"{{"type":"redeem",{},"points":"{points}"}}"#, head(*member, at))
        }
        Step::Transfer { member, to_offset, percent } => {
            let points = (spendable(*member) * Decimal::from(*percent) / Decimal::ONE_HUNDRED).floor();
            if points.is_zero() {
                return None;
            }
            let to = MEMBERS[(member + to_offset) % MEMBERS.len()];
            format!(r#"{{"type":"transfer",{},"to":"{to}","points":"{points}"}}"#, head(*member, at))
        }
        Step::Tick { member } => format!(r#"{{"type":"tick",{}}}"#, head(*member, at)),
        Step::Resend { pick } => return sent.get(pick % sent.len().max(1)).cloned(),
        Step::Reuse { pick } => {
            let earlier = sent.get(pick % sent.len().max(1))?;
            let member = MEMBERS.iter().position(|name| *name == earlier.member().as_str())?;
            format!(
                r#"{{"type":"tick","id":"{}","member":"{}","at":"{}"}}"#,
                earlier.id(),
                MEMBERS[member],
                at.to_rfc3339()
            )
        }
        Step::Overspend { member } => {
            let points = spendable(*member) + Decimal::from(1000);
            format!(r#"{{"type":"redeem",{},"points":"{points}"}}"#, head(*member, at))
        }
        Step::Stale { member } => {
            let last = state(*member).last_event_at()?;
            format!(r#"{{"type":"tick",{}}}"#, head(*member, last - Duration::hours(1)))
        }
    };
    Some(event(&json))
}
