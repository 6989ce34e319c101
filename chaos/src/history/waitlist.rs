//! The waitlist as the clients saw it (SPEC rule 11): every join request
//! and its answer, every place a `201` made and how it ended (an offer seen,
//! a leave, still on at the end), every offer a client saw and every
//! payment of an offer. Times are the history's milliseconds: a request's
//! `sent_ms` is when it went out, its `answered_ms` when its answer came.

use serde::Serialize;

/// One `POST /v1/performances/{id}/waitlist`, sent until a definite answer.
#[derive(Debug, Clone, Serialize)]
pub struct JoinRecord {
    /// The client.
    pub user: usize,
    /// Its user id.
    pub user_id: String,
    /// The performance.
    pub performance_id: i64,
    /// When its first attempt went out.
    pub sent_ms: u64,
    /// When its last answer came (or the client gave up).
    pub answered_ms: u64,
    /// The definite answer's status (`None`: none came).
    pub status: Option<u16>,
    /// Its problem `code`, if an error.
    pub code: Option<String>,
    /// The `position` of a `200` or `201`.
    pub position: Option<i64>,
    /// Whether some attempt got no definite answer (a place may have been
    /// made that the client never heard of).
    pub had_unknown: bool,
    /// Whether the client had a place on this list when it sent it.
    pub had_place: bool,
    /// The place it made or confirmed, if any.
    pub place: Option<u64>,
}

impl JoinRecord {
    /// Whether the join may have made a place the client cannot account
    /// for: an attempt without a definite answer, an unexpected answer, or
    /// a `201` while the client thought it had a place (which therefore was
    /// offered unseen).
    pub fn uncertain(&self) -> bool {
        self.had_unknown
            || !matches!(self.status, Some(200 | 201 | 403 | 409))
            || (self.had_place && self.status == Some(201))
    }
}

/// How a place ended, as its user saw it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "fate", rename_all = "snake_case")]
pub enum Fate {
    /// A new offer of the performance appeared in the user's reservations
    /// while the place was the user's (after its `201`).
    Offered {
        /// The offer.
        reservation_id: String,
        /// When the read that first showed it went out.
        sent_ms: u64,
        /// When that read answered.
        seen_ms: u64,
    },
    /// The user left (`DELETE` answered `204`) and a read of its
    /// reservations sent after that showed no new offer.
    Left {
        /// When the `DELETE` went out.
        sent_ms: u64,
        /// When its `204` came.
        answered_ms: u64,
    },
    /// The run ended with the place still the user's: the last read of its
    /// reservations (sent at `sent_ms`) showed no offer for it.
    StillOn {
        /// When that read went out.
        sent_ms: u64,
    },
    /// The client cannot tell (a leave or a read without an answer).
    Unknown {
        /// Why.
        why: String,
    },
}

/// A place on a list, made by a `201` (or confirmed by a `200`).
#[derive(Debug, Clone, Serialize)]
pub struct PlaceRecord {
    /// Its number in the run.
    pub place: u64,
    /// The client.
    pub user: usize,
    /// Its user id.
    pub user_id: String,
    /// The performance.
    pub performance_id: i64,
    /// When the join that made it went out (its first attempt).
    pub joined_sent_ms: u64,
    /// When that join's answer came.
    pub joined_ms: u64,
    /// The `position` answered.
    pub position: Option<i64>,
    /// Made by a join whose every attempt was answered, with `201`.
    pub certain: bool,
    /// How it ended.
    #[serde(flatten)]
    pub fate: Fate,
}

/// A new offer (`offer: true`) in a user's `GET /v1/reservations`.
#[derive(Debug, Clone, Serialize)]
pub struct OfferSeen {
    /// The client.
    pub user: usize,
    /// Its user id.
    pub user_id: String,
    /// The offer.
    pub reservation_id: String,
    /// Its performance.
    pub performance_id: i64,
    /// Its seat.
    pub seat_number: i64,
    /// When the read that first showed it went out.
    pub sent_ms: u64,
    /// When that read answered.
    pub seen_ms: u64,
    /// The place it was taken as the end of (`None`: the client had no
    /// place on that list then).
    pub place: Option<u64>,
}

/// A payment of an offer (its operation is among the ops).
#[derive(Debug, Clone, Serialize)]
pub struct OfferPay {
    /// The pay operation's number.
    pub op: u64,
    /// The client.
    pub user: usize,
    /// The offer paid.
    pub reservation_id: String,
    /// Sent with a queue token of the user that had expired (rule 11: an
    /// offer is paid with any token of its user).
    pub expired_token: bool,
}

/// One `DELETE /v1/performances/{id}/waitlist`, sent until `204`.
#[derive(Debug, Clone, Serialize)]
pub struct LeaveRecord {
    /// The client.
    pub user: usize,
    /// The performance.
    pub performance_id: i64,
    /// The place left (`None`: none known).
    pub place: Option<u64>,
    /// When its first attempt went out.
    pub sent_ms: u64,
    /// When its last answer came.
    pub answered_ms: u64,
    /// The last status (`None`: no answer).
    pub status: Option<u16>,
}

/// Everything the clients saw of the waitlist.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WaitLog {
    /// Join requests.
    pub joins: Vec<JoinRecord>,
    /// Places, once ended (or at the end of the run).
    pub places: Vec<PlaceRecord>,
    /// Offers seen.
    pub offers: Vec<OfferSeen>,
    /// Payments of offers.
    pub pays: Vec<OfferPay>,
    /// Leaves.
    pub leaves: Vec<LeaveRecord>,
}
