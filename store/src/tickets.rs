//! The tickets a user bought (`GET /v1/tickets`): their paid reservations
//! with the payment, the performance and the concert.

use chrono::{DateTime, Utc};
use domain::UserId;
use sqlx::PgPool;

/// One paid (or since refunded) seat of a user.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TicketRow {
    pub payment_id: uuid::Uuid,
    pub reservation_id: uuid::Uuid,
    pub concert_id: i64,
    pub title: String,
    pub artist: String,
    pub performance_id: i64,
    pub starts_at: DateTime<Utc>,
    pub seat_number: i16,
    pub price: i64,
    pub paid_at: DateTime<Utc>,
    /// The reservation's status: `paid` or `refunded`.
    pub status: String,
}

/// The reservations of `user` with status `paid` or `refunded`, soonest
/// performance first (then by seat), in one statement.
pub async fn of_user(pool: &PgPool, user: UserId) -> Result<Vec<TicketRow>, sqlx::Error> {
    sqlx::query_as(
        "select pay.payment_id, r.reservation_id, c.concert_id, c.title, c.artist,
                r.performance_id, p.starts_at, r.seat_number, r.price, pay.paid_at, r.status
           from reservations r
           join payments pay on pay.payment_id = r.payment_id
           join performances p on p.performance_id = r.performance_id
           join concerts c on c.concert_id = p.concert_id
          where r.user_id = $1 and r.status in ('paid', 'refunded')
          order by p.starts_at, r.performance_id, r.seat_number, pay.paid_at",
    )
    .bind(user.0)
    .fetch_all(pool)
    .await
}
