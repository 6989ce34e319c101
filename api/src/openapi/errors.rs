//! The error responses of each operation, built from [`ErrorCode`]: a set
//! names the codes an operation may answer with, and each code brings its
//! status, its description and an example problem, so the document cannot
//! list a code with another status than the API answers it with.

use crate::http::error::{ErrorCode, Problem};
use std::collections::BTreeMap;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::{IntoResponses, ToSchema};

/// Error responses of an operation, grouped by status; each lists its codes
/// with an example problem.
pub fn problem_responses(
    codes: &[ErrorCode],
) -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for code in codes {
        by_status
            .entry(code.status().as_u16())
            .or_default()
            .push(*code);
    }
    by_status
        .into_iter()
        .map(|(status, codes)| {
            let description = codes
                .iter()
                .map(|c| format!("`{}`: {}", c.code(), c.description()))
                .collect::<Vec<_>>()
                .join("; ");
            let examples = codes.iter().map(|c| {
                // The example is an answer, built as the answers are.
                let example = Problem::new(c.status(), *c, c.description());
                (
                    c.code().to_owned(),
                    ExampleBuilder::new()
                        .summary(c.code())
                        .value(serde_json::to_value(example).ok())
                        .build(),
                )
            });
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(Problem::name())))
                .examples_from_iter(examples)
                .build();
            let response = ResponseBuilder::new()
                .description(description)
                .content("application/problem+json", content)
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

/// Declares a named set of error responses for `responses(...)` of a path.
macro_rules! error_set {
    ($($(#[$meta:meta])* $name:ident => [$($code:ident),* $(,)?];)*) => {$(
        $(#[$meta])*
        ///
        /// Named in the operation's `responses(...)`, so the document lists
        /// exactly the codes it answers with, each under its real status.
        pub struct $name;
        impl $name {
            /// The codes the operation may answer with.
            pub const CODES: &'static [ErrorCode] = &[$(ErrorCode::$code),*];
        }
        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
                problem_responses(Self::CODES)
            }
        }
    )*};
}

error_set! {
    /// Registration.
    RegisterErrors => [ValidationError, PayloadTooLarge, UnsupportedMediaType, RateLimited, DatabaseUnavailable, InternalError];
    /// Entering the queue.
    EnterErrors => [ValidationError, InvalidCredentials, UserNotFound, ConcertNotFound, PayloadTooLarge, UnsupportedMediaType, RateLimited,
        DatabaseUnavailable, InternalError];
    /// The caller's place: a queue token, or the user's key naming a room.
    QueueReadErrors => [ValidationError, InvalidToken, QueueEntryNotFound, DatabaseUnavailable, InternalError];
    /// Reads that take any valid token.
    AnyTokenErrors => [InvalidToken, DatabaseUnavailable, InternalError];
    /// The balance: the token's user may have gone.
    BalanceErrors => [InvalidToken, UserNotFound, DatabaseUnavailable, InternalError];
    /// Charging the balance.
    ChargeErrors => [ValidationError, InvalidToken, UserNotFound, BalanceLimit, PayloadTooLarge, UnsupportedMediaType,
        IdempotencyKeyReused, DatabaseUnavailable, InternalError];
    /// Public reads.
    PublicReadErrors => [DatabaseUnavailable, InternalError];
    /// The dates of a concert.
    PerformancesErrors => [ValidationError, InvalidToken, TokenNotActive, TokenNotForConcert, ConcertNotFound,
        DatabaseUnavailable, InternalError];
    /// The seat map.
    SeatsErrors => [ValidationError, InvalidToken, TokenNotActive, TokenNotForConcert, PerformanceNotFound,
        DatabaseUnavailable, InternalError];
    /// The reserve command.
    ReserveErrors => [ValidationError, InvalidToken, TokenNotActive, TokenNotForConcert, PerformanceNotFound,
        PayloadTooLarge, UnsupportedMediaType, IdempotencyKeyReused, BrokerUnavailable, DatabaseUnavailable, InternalError];
    /// The pay command.
    PayErrors => [ValidationError, InvalidToken, TokenNotActive, TokenNotForConcert, NotYourReservation,
        ReservationNotFound, PayloadTooLarge, UnsupportedMediaType, IdempotencyKeyReused, BrokerUnavailable,
        DatabaseUnavailable, InternalError];
    /// Joining a waitlist: `409 SEATS_AVAILABLE` while a seat is free.
    WaitlistJoinErrors => [ValidationError, InvalidToken, TokenNotActive, TokenNotForConcert, PerformanceNotFound,
        SeatsAvailable, DatabaseUnavailable, InternalError];
    /// Leaving a waitlist: any credential of the user.
    WaitlistLeaveErrors => [ValidationError, InvalidToken, PerformanceNotFound, DatabaseUnavailable, InternalError];
    /// The cancel command: any credential of the reservation's owner.
    CancelErrors => [ValidationError, InvalidToken, NotYourReservation, ReservationNotFound,
        IdempotencyKeyReused, BrokerUnavailable, DatabaseUnavailable, InternalError];
    /// A request's outcome.
    RequestErrors => [ValidationError, InvalidToken, RequestNotFound, DatabaseUnavailable,
        InternalError];
    /// Making a concert (admin). `404 NOT_FOUND`: `ADMIN_TOKEN` is unset, so
    /// the admin endpoints are off.
    AdminConcertErrors => [ValidationError, InvalidToken, NotFound, PayloadTooLarge, UnsupportedMediaType,
        DatabaseUnavailable, InternalError];
    /// Changing a concert (admin): `409 SALE_ALREADY_OPEN` for a new
    /// opening once the sale has opened.
    AdminChangeConcertErrors => [ValidationError, InvalidToken, ConcertNotFound, NotFound, SaleAlreadyOpen,
        PayloadTooLarge, UnsupportedMediaType, DatabaseUnavailable, InternalError];
    /// Adding a performance (admin).
    AdminPerformanceErrors => [ValidationError, InvalidToken, ConcertNotFound, NotFound, PayloadTooLarge,
        UnsupportedMediaType, DatabaseUnavailable, InternalError];
    /// A performance's report (admin).
    AdminReportErrors => [ValidationError, InvalidToken, PerformanceNotFound, NotFound, DatabaseUnavailable,
        InternalError];
    /// The metrics, which fail only if they cannot be encoded.
    MetricsErrors => [InternalError];
}
