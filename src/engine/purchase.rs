//! Purchases: validate the lines, pay with points, earn, open lots, write the receipt.

use std::sync::Arc;

use chrono::TimeDelta;
use rust_decimal::Decimal;

use crate::amount::{Money, Rounding, above_magnitude, is_negative, is_positive, is_zero_within_limits, split_exact};
use crate::engine::draft::Draft;
use crate::engine::redeem::{check_points_amount, check_spendable, max_points_for_order};
use crate::engine::{
    EvalError, MAX_LINES_PER_EVENT, MAX_SEGMENTS_PER_EVENT, cashback, check_decimal, checked, checked_sum, stamps,
    tiers,
};
use crate::event::Purchase;
use crate::id::{FunderId, RuleId, Tag};
use crate::id_hash::IdMap;
use crate::ledger::{Account, Asset, Earning, LinePayment, LotId, PaidWith, Payment, Receipt, ReceiptLine};
use crate::program::{BirthdayFit, CalendarPeriod, CompiledRule, Effect};

pub(super) fn evaluate(draft: &mut Draft<'_>, purchase: &Purchase) -> Result<(), EvalError> {
    let program = &draft.program.program;
    if let Some(currency) = purchase.currency.as_ref().filter(|currency| **currency != program.currency) {
        return Err(EvalError::CurrencyMismatch { expected: program.currency.clone(), found: currency.clone() });
    }
    if draft.state.order(&purchase.order).is_some() {
        return Err(EvalError::DuplicateOrder { order: purchase.order.clone() });
    }
    let mut spare = draft.spare_receipt.take();
    // Not while anything else holds it: a state the last outcome was applied to shares it.
    let mut shell = spare.as_mut().and_then(Arc::get_mut);
    let (lines, earnings) = match &mut shell {
        Some(shell) => (std::mem::take(&mut shell.lines), std::mem::take(&mut shell.earnings)),
        None => (Vec::new(), Vec::new()),
    };
    let lines = receipt_lines(draft, purchase, lines)?;
    // Exactly the room most purchases use, a vesting and an accrual (a plain `reserve` rounds up
    // to four), so that an outcome the memory store keeps is already tight and costs no trim.
    draft.outcome.postings.reserve_exact(2);
    draft.settle()?;
    let order_total = checked_sum(lines.iter().map(|line| line.value.value()))?;
    // Borrowed from the program, not the draft, so that the draft stays free to change.
    let compiled = draft.program;
    let seller = compiled.seller(purchase.merchant.as_ref());
    let mut payment = Payment::default();
    let points_value = pay_with_points(draft, purchase, &lines, order_total, seller, &mut payment)?;
    let cashback_paid = cashback::pay(draft, purchase, &lines, order_total - points_value, seller, &mut payment)?;
    let context = order_context(draft, purchase, &lines, order_total, points_value + cashback_paid, seller)?;
    let earnings = earn(draft, &context, &lines, earnings)?;
    let cashback = cashback::earn(draft, &context, &lines)?;
    let first_index = draft.outcome.lots_opened.len();
    let first_lot = LotId(draft.state.next_lot().0 + first_index as u64);
    let program = &draft.program.program;
    let vests_at = vesting_end(purchase, program.returns.vesting_days)?;
    open_lots(
        draft,
        purchase,
        &Asset::Points,
        &earnings,
        vests_at,
        program.expiry.expires_at(vests_at, program.utc_offset.0),
    )?;
    if let Some(section) = &program.cashback {
        open_lots(draft, purchase, &Asset::Cashback, &cashback, vesting_end(purchase, section.vesting_days)?, None)?;
    }
    let lot_count = u32::try_from(draft.outcome.lots_opened.len() - first_index).expect("one lot per asset and funder");
    let stamps = stamps::earn(draft, &context, &lines)?;
    let partner = (*seller != compiled.program.owner).then(|| seller.clone());
    let tier = context.tier.cloned();
    let order = purchase.order.clone();
    let (withheld_points, withheld_money) = (Decimal::ZERO, Money::ZERO);
    // The receipt is kept for good; a `Vec` leaves room for four groups after the first.
    payment.paid_with.shrink_to_fit();
    let receipt = Receipt {
        order,
        at: purchase.at,
        lines,
        earnings,
        cashback,
        first_lot,
        lot_count,
        payment: (!payment.paid_with.is_empty()).then(|| Box::new(payment)),
        withheld_points,
        withheld_money,
        tier,
        partner,
        stamps,
    };
    let filed = match shell {
        Some(shell) => {
            *shell = receipt;
            spare.expect("the shell is the spare receipt")
        }
        None => Arc::new(receipt),
    };
    tiers::take_in_order(draft, &filed)?;
    draft.outcome.receipt = Some(filed);
    Ok(())
}

/// Checks the purchase's size and every line, and prices each line: value = qty x unit price -
/// discount. Writes into `lines`, whose memory a spare receipt may have lent.
fn receipt_lines(
    draft: &Draft<'_>,
    purchase: &Purchase,
    mut lines: Vec<ReceiptLine>,
) -> Result<Vec<ReceiptLine>, EvalError> {
    check_line_count(purchase.lines.len())?;
    if purchase.segments.len() > MAX_SEGMENTS_PER_EVENT {
        return Err(EvalError::TooManySegments { count: purchase.segments.len() });
    }
    lines.clear();
    let lent = lines.capacity() > 0;
    lines.reserve_exact(purchase.lines.len());
    for (index, line) in purchase.lines.iter().enumerate() {
        let qty = check_decimal(Some(index), "qty", line.qty)?;
        let unit_price = check_decimal(Some(index), "unit_price", line.unit_price.value())?;
        let discount = check_decimal(Some(index), "discount", line.discount.value())?;
        if !is_positive(qty) {
            return Err(EvalError::InvalidQuantity { line: index, qty });
        }
        if !is_positive(unit_price) {
            return Err(EvalError::InvalidPrice { line: index, unit_price: line.unit_price });
        }
        let gross = checked(qty.checked_mul(unit_price))?;
        // Bounds every amount an order stores (its total, a tier's metric) far inside what a
        // stored record may hold.
        if above_magnitude(gross) {
            return Err(EvalError::DecimalOutOfRange { line: Some(index), field: "qty x unit_price", value: gross });
        }
        if is_negative(discount) || (!discount.is_zero() && discount > gross) {
            let line_value = Money::new(gross);
            return Err(EvalError::InvalidDiscount { line: index, discount: line.discount, line_value });
        }
        lines.push(ReceiptLine {
            sku: line.sku.clone(),
            qty,
            returned_qty: Decimal::ZERO,
            value: Money::new(gross - discount),
            eligible: !draft.program.rules.is_excluded(line),
        });
    }
    trim_room(&mut lines, lent);
    Ok(lines)
}

pub(super) fn check_line_count(count: usize) -> Result<(), EvalError> {
    match count {
        0 => Err(EvalError::NoLines),
        count if count > MAX_LINES_PER_EVENT => Err(EvalError::TooManyLines { count }),
        _ => Ok(()),
    }
}

/// Drains the points that pay for the order and spreads them over the lines by value.
/// Returns their value in money. Most purchases pay nothing with points: see the module
/// `engine` on inlined entries.
#[inline(always)]
fn pay_with_points(
    draft: &mut Draft<'_>,
    purchase: &Purchase,
    lines: &[ReceiptLine],
    order_total: Decimal,
    seller: &FunderId,
    payment: &mut Payment,
) -> Result<Decimal, EvalError> {
    let requested = purchase.pay_with_points.value();
    if is_zero_within_limits(requested) {
        return Ok(Decimal::ZERO);
    }
    pay_requested_points(draft, purchase, lines, order_total, seller, payment)
}

/// [`pay_with_points`] for a purchase that asks to pay with points, or whose amount is out of
/// range.
#[inline(never)]
fn pay_requested_points(
    draft: &mut Draft<'_>,
    purchase: &Purchase,
    lines: &[ReceiptLine],
    order_total: Decimal,
    seller: &FunderId,
    payment: &mut Payment,
) -> Result<Decimal, EvalError> {
    let requested = check_decimal(None, "pay_with_points", purchase.pay_with_points.value())?;
    let program = &draft.program.program;
    let redemption = check_points_amount(program, requested)?;
    let max_points = max_points_for_order(program, redemption, order_total)?;
    if requested > max_points {
        return Err(EvalError::PointsAboveCap { requested: purchase.pay_with_points, max_points: max_points.into() });
    }
    check_spendable(draft, requested, redemption)?;
    let point_value = redemption.point_value.value();
    let decimal_places = program.rounding.decimal_places;
    let charge = Charge { asset: &Asset::Points, amount: requested, decimal_places };
    drain_payment(draft, &charge, seller, lines, |share| &mut share.points, payment)?;
    checked(requested.checked_mul(point_value))
}

/// An amount of points or cashback that pays for an order.
pub(super) struct Charge<'a> {
    pub(super) asset: &'a Asset,
    pub(super) amount: Decimal,
    /// The places the asset is counted in, for spreading it over the lines.
    pub(super) decimal_places: u32,
}

/// Drains a checked charge from the member's available lots into `payment`: records it by
/// funder and expiry (so that a return gives each group back with its own expiry), settles with
/// the seller what other funders paid for, and spreads it over the lines by value into
/// `share_of` of each line's payment.
pub(super) fn drain_payment(
    draft: &mut Draft<'_>,
    charge: &Charge<'_>,
    seller: &FunderId,
    lines: &[ReceiptLine],
    share_of: impl Fn(&mut LinePayment) -> &mut Decimal,
    payment: &mut Payment,
) -> Result<(), EvalError> {
    let paid_with = &mut payment.paid_with;
    let first = paid_with.len();
    let asset = charge.asset;
    let short = draft.take_available(
        asset,
        charge.amount,
        |_| Some(Account::Redeemed),
        |lot, taken| {
            // A lot that returns gave points back into passes on where they were first earned.
            let earned_in = Some(lot.refund_of.unwrap_or(lot.id));
            match paid_with[first..]
                .iter_mut()
                .find(|paid| paid.earned_in == earned_in && paid.expires_at == lot.expires_at)
            {
                Some(paid) => paid.points += taken,
                None => paid_with.push(PaidWith {
                    asset: asset.clone(),
                    funder: lot.funder.clone(),
                    points: taken,
                    refunded: Decimal::ZERO,
                    expires_at: lot.expires_at,
                    earned_in,
                }),
            }
        },
    )?;
    assert!(short.is_zero(), "the payment was checked against what is available");
    for paid in &paid_with[first..] {
        draft.settle_between(asset, &paid.funder, seller, paid.points)?;
    }
    if payment.lines.is_empty() {
        // Exactly one per line: a `Vec` would round a first push up to four.
        payment.lines.reserve_exact(lines.len());
        payment.lines.resize(lines.len(), LinePayment::default());
    }
    for (share, line) in payment.lines.iter_mut().zip(lines) {
        *share_of(share) = line.value.value();
    }
    checked(split_exact(charge.amount, &mut payment.lines, charge.decimal_places, share_of))
}

/// What every line of the order earns against.
fn order_context<'a>(
    draft: &Draft<'a>,
    purchase: &'a Purchase,
    lines: &[ReceiptLine],
    order_total: Decimal,
    paid_value: Decimal,
    seller: &'a FunderId,
) -> Result<OrderContext<'a>, EvalError> {
    let level = tiers::level(draft);
    Ok(OrderContext {
        purchase,
        seller,
        birthday: crate::engine::bonuses::birthday_fit(draft, purchase.at),
        plan: running_plan(draft, purchase),
        tier: level.map(|(_, id)| id),
        tier_multiplier: level.and_then(|(level, _)| draft.program.tier_multipliers[level as usize].as_ref()),
        eligible_total: checked_sum(lines.iter().filter(|line| line.eligible).map(|line| line.value.value()))?,
        // What money, not points or cashback, paid of the order; a line's base is its share.
        paid_in_money: (!paid_value.is_zero()).then_some(order_total - paid_value),
        order_total,
    })
}

/// The member's paid membership plan running when the order is placed, if the program still
/// sells it: a plan a program no longer lists puts no one in its segment. One check on every
/// purchase of a program without plans.
#[inline(always)]
fn running_plan<'a>(draft: &Draft<'a>, purchase: &Purchase) -> Option<&'a Tag> {
    let plans = &draft.program.program.memberships;
    if plans.is_empty() {
        return None;
    }
    draft.state.plan_at(purchase.at).filter(|plan| plans.iter().any(|listed| listed.id == **plan))
}

/// What every eligible line earns, rule by rule and funder by funder, rounded per line.
/// Writes into `earnings`, whose memory a spare receipt may have lent.
fn earn(
    draft: &Draft<'_>,
    order: &OrderContext<'_>,
    lines: &[ReceiptLine],
    mut earnings: Vec<Earning>,
) -> Result<Vec<Earning>, EvalError> {
    let (purchase, seller) = (order.purchase, order.seller);
    let order_parts = per_order_parts(draft, purchase, lines, order)?;
    earnings.clear();
    // Room for what the rules can give; `trim_room` gives back what they didn't.
    let lent = earnings.capacity() > 0;
    earnings.reserve_exact(draft.program.earnings_per_line * lines.len());
    let mut scratch = Vec::new();
    let (rounding, capped) = (draft.program.program.rounding, !draft.program.rules.caps.is_empty());
    for (index, receipt_line) in lines.iter().enumerate().filter(|(_, line)| line.eligible) {
        let start = earnings.len();
        earn_line(draft, order, index, receipt_line, &mut scratch, &mut earnings)?;
        for (_, position, points) in order_parts.iter().filter(|(line, _, _)| *line == index) {
            let rule = &draft.program.rules.rules[*position as usize];
            push_shares(&mut earnings, index, rule, *points, seller, order.tier)?;
        }
        if !capped {
            round_line(&mut earnings[start..], rounding)?;
        }
    }
    if capped {
        apply_caps(draft, purchase, &mut earnings)?;
    }
    if earnings.iter().any(|earning| earning.points.is_zero()) {
        earnings.retain(|earning| !earning.points.is_zero());
    }
    trim_room(&mut earnings, lent);
    Ok(earnings)
}

/// Holds each capped rule to what its caps leave this order (its most per order, what is left
/// of its most per period), then rounds each line. A rule that rejects orders over its cap is
/// held to nothing where its own points on the order, each line rounded, pass its most, and to
/// at most those points otherwise. The raw points of a rule over its most are scaled
/// down, in proportion to what each line and funder had, so that each line is still rounded
/// once, from what it keeps; where rounding the lines up still takes a rule past its most, its
/// rounded points are split down to exactly the most. Each keeps at most what it had. Linear in
/// the earnings (a hash lookup each), however many capped rules the order earned under.
#[inline(never)]
fn apply_caps(draft: &Draft<'_>, purchase: &Purchase, earnings: &mut [Earning]) -> Result<(), EvalError> {
    let CapSlots { slots, mut mosts, rejects } = cap_slots(draft, purchase, earnings)?;
    let rounding = draft.program.program.rounding;
    if rejects.contains(&true) {
        // Judged on the rule's own points, each line rounded, so that other rules on its lines
        // or how its funders split can't tip it over by a rounding unit; kept, it gets no more.
        let alone = rounded_alone(earnings, &slots, mosts.len(), rounding)?;
        for ((most, alone), reject) in mosts.iter_mut().zip(alone).zip(rejects) {
            if reject {
                *most = if alone > *most { Decimal::ZERO } else { alone };
            }
        }
    }
    let totals = slot_totals(earnings, &slots, mosts.len())?;
    for (earning, slot) in earnings.iter_mut().zip(&slots) {
        if let Some(slot) = *slot {
            if totals[slot] > mosts[slot] {
                earning.points = scaled(earning.points, mosts[slot], totals[slot])?;
            }
        }
    }
    // A line's earnings are together, in line order.
    for line_earnings in earnings.chunk_by_mut(|one, other| one.line == other.line) {
        round_line(line_earnings, rounding)?;
    }
    let totals = slot_totals(earnings, &slots, mosts.len())?;
    if totals.iter().zip(&mosts).any(|(total, most)| total > most) {
        hold_to_mosts(earnings, &slots, &mosts, &totals, rounding.decimal_places)?;
    }
    Ok(())
}

/// What each slot's rule would give the order alone: its raw points on each line, rounded as
/// the line would round them, summed over the lines. Linear in the earnings.
fn rounded_alone(
    earnings: &[Earning],
    slots: &[Option<usize>],
    count: usize,
    rounding: Rounding,
) -> Result<Vec<Decimal>, EvalError> {
    let mut alone = vec![Decimal::ZERO; count];
    let mut on_line = vec![Decimal::ZERO; count];
    let mut touched = Vec::new();
    let mut start = 0;
    for line_earnings in earnings.chunk_by(|one, other| one.line == other.line) {
        for (earning, slot) in line_earnings.iter().zip(&slots[start..]) {
            if let Some(slot) = *slot {
                if on_line[slot].is_zero() {
                    touched.push(slot);
                }
                on_line[slot] = checked(on_line[slot].checked_add(earning.points))?;
            }
        }
        for slot in touched.drain(..) {
            alone[slot] = checked(alone[slot].checked_add(rounding.apply(on_line[slot])))?;
            on_line[slot] = Decimal::ZERO;
        }
        start += line_earnings.len();
    }
    Ok(alone)
}

/// The capped rules an order earned under, each a slot.
struct CapSlots {
    /// Which slot each earning is of, if any.
    slots: Vec<Option<usize>>,
    /// Each slot's most for this order.
    mosts: Vec<Decimal>,
    /// Whether an order over a slot's most gets nothing of its rule (`reject`).
    rejects: Vec<bool>,
}

/// Finds the capped rules among `earnings` and what their caps leave this order.
fn cap_slots(draft: &Draft<'_>, purchase: &Purchase, earnings: &[Earning]) -> Result<CapSlots, EvalError> {
    let caps = &draft.program.rules.caps;
    let mut slot_of: IdMap<RuleId, usize> = IdMap::default();
    let mut mosts: Vec<Decimal> = Vec::new();
    let mut rejects: Vec<bool> = Vec::new();
    let mut slots = Vec::with_capacity(earnings.len());
    for earning in earnings {
        let Some(rule_caps) = caps.get(&earning.rule) else {
            slots.push(None);
            continue;
        };
        let slot = match slot_of.get(&earning.rule) {
            Some(slot) => *slot,
            None => {
                let left_in_period = match rule_caps.per_period {
                    Some((period, most)) => {
                        Some((most - earned_in_period(draft, purchase, &earning.rule, period)?).max(Decimal::ZERO))
                    }
                    None => None,
                };
                let most = [rule_caps.per_order, left_in_period].into_iter().flatten().min();
                mosts.push(most.expect("a capped rule has a cap"));
                rejects.push(rule_caps.reject);
                slot_of.insert(earning.rule.clone(), mosts.len() - 1);
                mosts.len() - 1
            }
        };
        slots.push(Some(slot));
    }
    Ok(CapSlots { slots, mosts, rejects })
}

fn slot_totals(earnings: &[Earning], slots: &[Option<usize>], count: usize) -> Result<Vec<Decimal>, EvalError> {
    let mut totals = vec![Decimal::ZERO; count];
    for (earning, slot) in earnings.iter().zip(slots) {
        if let Some(slot) = *slot {
            totals[slot] = checked(totals[slot].checked_add(earning.points))?;
        }
    }
    Ok(totals)
}

/// Splits the rounded points of each slot over its most down to exactly its most, and hands
/// each unit a line's part gave up to the line's largest earning of a rule without a cap, so
/// that the line keeps its rounded total (a line with none keeps less).
fn hold_to_mosts(
    earnings: &mut [Earning],
    slots: &[Option<usize>],
    mosts: &[Decimal],
    totals: &[Decimal],
    decimal_places: u32,
) -> Result<(), EvalError> {
    let over = |slot: &Option<usize>| slot.filter(|slot| totals[*slot] > mosts[*slot]);
    let mut parts: Vec<Vec<usize>> = vec![Vec::new(); mosts.len()];
    for (index, slot) in slots.iter().enumerate() {
        if let Some(slot) = over(slot) {
            parts[slot].push(index);
        }
    }
    let receivers = largest_uncapped_of_each_line(earnings, slots);
    for (slot, indices) in parts.iter().enumerate().filter(|(_, indices)| !indices.is_empty()) {
        let mut amounts: Vec<Decimal> = indices.iter().map(|index| earnings[*index].points).collect();
        checked(split_exact(mosts[slot], &mut amounts, decimal_places, |amount| amount))?;
        for (index, amount) in indices.iter().zip(amounts) {
            let given_up = earnings[*index].points - amount;
            earnings[*index].points = amount;
            if let Some(receiver) = receivers[*index] {
                earnings[receiver].points += given_up;
            }
        }
    }
    Ok(())
}

/// For each earning, the position of its line's largest earning of a rule without a cap.
fn largest_uncapped_of_each_line(earnings: &[Earning], slots: &[Option<usize>]) -> Vec<Option<usize>> {
    let mut receivers = vec![None; earnings.len()];
    let mut start = 0;
    for line_earnings in earnings.chunk_by(|one, other| one.line == other.line) {
        let end = start + line_earnings.len();
        let uncapped = (start..end).filter(|index| slots[*index].is_none());
        let largest = uncapped.reduce(
            |largest, index| {
                if earnings[index].points > earnings[largest].points { index } else { largest }
            },
        );
        receivers[start..end].fill(largest);
        start = end;
    }
    receivers
}

/// `points x most / total`, for scaling a rule's raw points down to its most.
fn scaled(points: Decimal, most: Decimal, total: Decimal) -> Result<Decimal, EvalError> {
    match points.checked_mul(most) {
        Some(product) => checked(product.checked_div(total)),
        // Past what a decimal holds: the ratio first, as `OrderContext::base` does.
        None => checked(points.checked_mul(checked(most.checked_div(total))?)),
    }
}

/// What `rule` gave the member's orders placed in the calendar period of `purchase`, net of
/// what returns took back.
fn earned_in_period(
    draft: &Draft<'_>,
    purchase: &Purchase,
    rule: &RuleId,
    period: CalendarPeriod,
) -> Result<Decimal, EvalError> {
    let (start, end) = checked(period.bounds(purchase.at, draft.program.program.utc_offset.0))?;
    let in_period = draft.state.orders().filter(|receipt| receipt.at >= start && receipt.at < end);
    let earnings = in_period.flat_map(|receipt| &receipt.earnings).filter(|earning| earning.rule == *rule);
    checked_sum(earnings.map(|earning| earning.points - earning.clawed_back))
}

/// Gives back room a receipt's vector doesn't need, since a receipt keeps its vectors for good:
/// all of it for fresh memory, and for memory an earlier receipt lent what exceeds twice the
/// need, so that reuse stays cheap while a large cart's memory can't end up held by a small
/// order.
// Always inlined: once `receipt_lines` grew by the segment check, the compiler kept this out of
// line, a call per purchase (22 instructions where inlined it takes a few).
#[inline(always)]
fn trim_room<T>(vector: &mut Vec<T>, lent: bool) {
    let room = if lent { 2 * vector.len() } else { vector.len() };
    if vector.capacity() > room {
        vector.shrink_to_fit();
    }
}

/// What every line of one order earns against.
pub(super) struct OrderContext<'a> {
    pub(super) purchase: &'a Purchase,
    /// Who funds what names no funders.
    pub(super) seller: &'a FunderId,
    /// The member's tier level, in a program with tiers.
    pub(super) tier: Option<&'a Tag>,
    /// How the order's date stands to the member's birthday, in a program that asks.
    pub(super) birthday: Option<BirthdayFit>,
    /// The member's paid membership plan running when the order is placed.
    pub(super) plan: Option<&'a Tag>,
    /// That level's earn multiplier.
    tier_multiplier: Option<&'a CompiledRule>,
    pub(super) eligible_total: Decimal,
    paid_in_money: Option<Decimal>,
    order_total: Decimal,
}

impl OrderContext<'_> {
    /// A line's earning base: its value less its share of what points and cashback paid.
    pub(super) fn base(&self, line: &ReceiptLine) -> Result<Decimal, EvalError> {
        let value = line.value.value();
        let Some(money) = self.paid_in_money else { return Ok(value) };
        match value.checked_mul(money) {
            // Multiplying first keeps the one division exact wherever the result is.
            Some(product) => checked(product.checked_div(self.order_total)),
            // Past what a decimal holds (a line and an order worth 10^15 or so): the share of
            // the order first, rounded to a decimal's 28 digits, far below any point.
            None => checked(value.checked_mul(checked(money.checked_div(self.order_total))?)),
        }
    }
}

/// Pushes the raw (unrounded) points each matching per-line rule gives line `index`: rates and
/// per-unit points first, then multipliers of the rate points.
fn earn_line(
    draft: &Draft<'_>,
    order: &OrderContext<'_>,
    index: usize,
    receipt_line: &ReceiptLine,
    scratch: &mut Vec<u32>,
    earnings: &mut Vec<Earning>,
) -> Result<(), EvalError> {
    let line = &order.purchase.lines[index];
    let base = order.base(receipt_line)?;
    let rules = &draft.program.rules;
    let matching =
        rules.candidates(line, scratch).iter().map(|position| &rules.rules[*position as usize]).filter(|rule| {
            rule.matches(line, order.purchase, order.eligible_total, order.tier, order.birthday, order.plan)
        });
    let mut rate_points = Decimal::ZERO;
    for rule in matching.clone() {
        let raw = match rule.effect {
            Effect::PointsPerCurrencyUnit(rate) => {
                let points = checked(base.checked_mul(rate.value()))?;
                rate_points = checked(rate_points.checked_add(points))?;
                points
            }
            Effect::PointsPerUnit(points) => checked(receipt_line.qty.checked_mul(points.value()))?,
            Effect::Multiplier(_) | Effect::PointsPerOrder(_) => continue,
        };
        push_shares(earnings, index, rule, raw, order.seller, order.tier)?;
    }
    if rate_points.is_zero() {
        return Ok(());
    }
    // Matching the rules again only in a program that has multiplier rules.
    let rule_multipliers = rules.has_multipliers.then_some(matching);
    for rule in rule_multipliers.into_iter().flatten().chain(order.tier_multiplier) {
        if let Effect::Multiplier(multiplier) = rule.effect {
            let raw = checked(rate_points.checked_mul(multiplier.value() - Decimal::ONE))?;
            push_shares(earnings, index, rule, raw, order.seller, order.tier)?;
        }
    }
    Ok(())
}

/// Spreads each matching per-order rule's points over its matching lines by value, exactly at
/// the program's points precision, so that rounding each line later keeps them whole.
/// Returns `(line, rule, points)` parts.
fn per_order_parts(
    draft: &Draft<'_>,
    purchase: &Purchase,
    lines: &[ReceiptLine],
    order: &OrderContext<'_>,
) -> Result<Vec<(usize, u32, Decimal)>, EvalError> {
    let rules = &draft.program.rules;
    let decimal_places = draft.program.program.rounding.decimal_places;
    let mut parts = Vec::new();
    for &position in &rules.per_order {
        let rule = &rules.rules[position as usize];
        let Effect::PointsPerOrder(points) = rule.effect else { continue };
        if !rule.when.matches_order(purchase, order.eligible_total, order.tier, order.birthday, order.plan) {
            continue;
        }
        let start = parts.len();
        for (index, (line, receipt_line)) in purchase.lines.iter().zip(lines).enumerate() {
            if receipt_line.eligible && rule.when.matches_line(line) {
                parts.push((index, position, receipt_line.value.value()));
            }
        }
        if parts.len() > start {
            checked(split_exact(points.value(), &mut parts[start..], decimal_places, |part| &mut part.2))?;
        }
    }
    Ok(parts)
}

/// Adds one earning per funder of `rule` (the seller, if it names none), holding the raw
/// (unrounded) points for now.
pub(super) fn push_shares(
    earnings: &mut Vec<Earning>,
    line: usize,
    rule: &CompiledRule,
    raw: Decimal,
    seller: &FunderId,
    tier: Option<&Tag>,
) -> Result<(), EvalError> {
    let line = u32::try_from(line).expect("lines are limited far below u32::MAX");
    let tier = tier.filter(|_| rule.tier_bound);
    let earning = |funder: &FunderId, points| Earning {
        line,
        rule: rule.id.clone(),
        funder: funder.clone(),
        points,
        clawed_back: Decimal::ZERO,
        min_order_total: rule.when.min_order_total,
        tier: tier.cloned(),
    };
    if rule.funders.is_empty() {
        earnings.push(earning(seller, raw));
    }
    for (funder, share) in &rule.funders {
        earnings.push(earning(funder, checked(raw.checked_mul(*share))?));
    }
    Ok(())
}

/// Rounds a line's raw points once, then splits the rounded total back over its earnings
/// exactly, so that rules and funders add up to the line and nothing is lost to rounding.
pub(super) fn round_line(line_earnings: &mut [Earning], rounding: Rounding) -> Result<(), EvalError> {
    if line_earnings.is_empty() {
        return Ok(());
    }
    let raw_total = checked_sum(line_earnings.iter().map(|earning| earning.points))?;
    let total = rounding.apply(raw_total);
    checked(split_exact(total, line_earnings, rounding.decimal_places, |earning| &mut earning.points))?;
    Ok(())
}

/// When what a purchase earns becomes available, `vesting_days` after it. Inlined (see the
/// module `engine`): many programs vest nothing.
#[inline(always)]
fn vesting_end(purchase: &Purchase, vesting_days: u32) -> Result<chrono::DateTime<chrono::Utc>, EvalError> {
    if vesting_days == 0 {
        return Ok(purchase.at);
    }
    checked(purchase.at.checked_add_signed(TimeDelta::days(i64::from(vesting_days))))
}

/// Opens one lot of `asset` per funder of `earnings` and fills it with that funder's share.
fn open_lots(
    draft: &mut Draft<'_>,
    purchase: &Purchase,
    asset: &Asset,
    earnings: &[Earning],
    vests_at: chrono::DateTime<chrono::Utc>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(), EvalError> {
    let first_index = draft.outcome.lots_opened.len();
    // Exactly one lot's room, for the usual single funder, as for the postings.
    if !earnings.is_empty() {
        draft.outcome.lots_opened.reserve_exact(1);
    }
    for earning in earnings {
        if !draft.outcome.lots_opened[first_index..].iter().any(|lot| lot.funder == earning.funder) {
            let order = Some(purchase.order.clone());
            draft.open_lot(asset.clone(), earning.funder.clone(), order, vests_at, expires_at, None);
        }
    }
    let to = if vests_at <= purchase.at { Account::Available } else { Account::Pending };
    for position in first_index..draft.outcome.lots_opened.len() {
        let lot = &draft.outcome.lots_opened[position];
        let (id, funder) = (lot.id, lot.funder.clone());
        let amount =
            checked_sum(earnings.iter().filter(|earning| earning.funder == funder).map(|earning| earning.points))?;
        draft.post_in(asset, Account::Funder(funder), to.clone(), amount, Some(id))?;
        if to == Account::Available {
            draft.repay_debt(id)?;
        }
    }
    Ok(())
}
