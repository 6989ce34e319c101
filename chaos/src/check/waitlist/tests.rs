//! The client-view rules on made-up histories: each must catch what it is
//! for and pass what the system may do.

use super::rules::{order, positions};
use super::{End, OfferRow, Taint};
use crate::history::waitlist::{Fate, JoinRecord, PlaceRecord, WaitLog};

const PERFORMANCE: i64 = 7;

fn place(id: u64, user: usize, (sent, answered): (u64, u64), position: i64) -> PlaceRecord {
    PlaceRecord {
        place: id,
        user,
        user_id: format!("u{user}"),
        performance_id: PERFORMANCE,
        joined_sent_ms: sent,
        joined_ms: answered,
        position: Some(position),
        certain: true,
        fate: Fate::StillOn { sent_ms: 1000 },
    }
}

fn offer(user: usize, seq: i64, order: i64) -> OfferRow {
    OfferRow {
        user_id: format!("u{user}"),
        performance_id: PERFORMANCE,
        seat_number: 1,
        seq,
        order,
        status: "held".to_owned(),
        payment_id: None,
    }
}

fn join(user: usize, (sent, answered): (u64, u64), had_unknown: bool) -> JoinRecord {
    JoinRecord {
        user,
        user_id: format!("u{user}"),
        performance_id: PERFORMANCE,
        sent_ms: sent,
        answered_ms: answered,
        status: Some(201),
        code: None,
        position: Some(1),
        had_unknown,
        had_place: false,
        place: None,
    }
}

/// Judges B's offer (seq 2, order 2, seen at 40 ms) against A's end; A's
/// `201` came at 10 ms, B's join went out at 20 ms. Returns (pairs judged,
/// violations).
fn judge_after(a_end: End<'_>, a_joined: (u64, u64)) -> (usize, usize) {
    let a = place(1, 1, a_joined, 1);
    let b = place(2, 2, (20, 30), 2);
    let ob = offer(2, 2, 2);
    let judged = vec![(&a, a_end), (&b, End::Offer(&ob, Some(40)))];
    let mut out = Vec::new();
    let pairs = order(&judged, &mut out);
    (pairs, out.len())
}

#[test]
fn an_offer_to_a_later_join_while_an_earlier_one_waits_is_caught() {
    assert_eq!(judge_after(End::Waiting, (0, 10)), (1, 1));
}

#[test]
fn offers_in_join_order_pass_and_out_of_it_are_caught() {
    let before = offer(1, 1, 1);
    assert_eq!(judge_after(End::Offer(&before, Some(15)), (0, 10)), (1, 0));
    // Taken together with B's place, ahead of it.
    let together = offer(1, 1, 2);
    assert_eq!(judge_after(End::Offer(&together, None), (0, 10)), (1, 0));
    // A later place (seq) for the earlier join, or a later taking.
    let later_seq = offer(1, 3, 1);
    assert_eq!(judge_after(End::Offer(&later_seq, None), (0, 10)), (1, 1));
    let later_taking = offer(1, 1, 3);
    assert_eq!(
        judge_after(End::Offer(&later_taking, None), (0, 10)),
        (1, 1)
    );
}

#[test]
fn a_leave_counts_only_if_it_may_have_come_before_the_offer() {
    assert_eq!(judge_after(End::Left(35), (0, 10)), (1, 0));
    assert_eq!(judge_after(End::Left(50), (0, 10)), (1, 1));
}

#[test]
fn joins_that_overlap_are_not_ordered() {
    // A's 201 came after B's join went out: either may be ahead.
    assert_eq!(judge_after(End::Waiting, (0, 25)), (0, 0));
}

#[test]
fn a_position_counts_the_places_on_the_list_while_the_join_ran() {
    let a = place(1, 1, (0, 10), 1);
    let check = |position: i64| {
        let b = place(2, 2, (20, 30), position);
        let log = WaitLog {
            places: vec![a.clone(), b.clone()],
            ..WaitLog::default()
        };
        let taint = Taint::of(&log);
        let judged = vec![(&a, End::Waiting), (&b, End::Waiting)];
        let mut out = Vec::new();
        positions(&log, &taint, &judged, &mut out);
        out.len()
    };
    // A waits throughout: B is second, not first, and not third either.
    assert_eq!(check(1), 1);
    assert_eq!(check(2), 0);
    assert_eq!(check(3), 1);
}

#[test]
fn a_join_without_a_definite_answer_leaves_its_user_and_list_out_from_then() {
    let log = WaitLog {
        joins: vec![join(1, (0, 10), false), join(2, (50, 60), true)],
        ..WaitLog::default()
    };
    let taint = Taint::of(&log);
    assert!(!taint.by(1, PERFORMANCE, u64::MAX));
    assert!(!taint.by(2, PERFORMANCE, 49));
    assert!(taint.by(2, PERFORMANCE, 50));
    assert!(!taint.by(2, PERFORMANCE + 1, u64::MAX));
}
