//! The HTTP wire format: every request body the API reads and every response
//! body it answers with, as typed structs.
//!
//! They exist so the handlers, the OpenAPI document (with the `openapi`
//! feature, each derives `utoipa::ToSchema`), the workers that write command
//! results and the tests and clients that read the answers share one
//! definition: a field renamed here is renamed everywhere, by the compiler.
//!
//! Every type is `Serialize` and `Deserialize`. Fields that may be `null` are
//! `Option`s that are always written (never skipped), as the API answers them.

mod admin;
mod catalog;
mod commands;
mod queue;
mod requests;
mod responses;
mod results;
mod tickets;
mod waitlist;

pub use admin::{
    AdminConcert, AdminPerformance, ConcertChanges, NewConcertRequest, NewPerformanceRequest,
    PerformanceReport, PriceRange,
};
pub use catalog::{Concert, Performance, Seat, SeatMap};
pub use commands::{Accepted, RequestOutcome, Reservation};
pub use queue::{QueueEntry, QueueStatusResponse};
pub use requests::{ChargeRequest, EnterQueueRequest, PayRequest, RegisterRequest, ReserveRequest};
pub use responses::{Balance, Health, NewUser, Readiness};
pub use results::{CancelResult, PayResult, RequestResult, ReserveResult};
pub use tickets::{Ticket, TicketStatus};
pub use waitlist::WaitlistPlace;

#[cfg(all(test, feature = "openapi"))]
mod tests {
    use super::*;
    use serde_json::Value;
    use utoipa::{PartialSchema, ToSchema};

    fn schema<T: PartialSchema>() -> Value {
        serde_json::to_value(T::schema()).unwrap_or_default()
    }

    #[test]
    fn the_documented_limits_are_the_domains() {
        let seat = &schema::<ReserveRequest>()["properties"]["seat_number"];
        assert_eq!(seat["maximum"], crate::SEATS_PER_PERFORMANCE);
        let amount = &schema::<ChargeRequest>()["properties"]["amount"];
        assert_eq!(amount["maximum"], crate::MAX_CHARGE);
        let balance = &schema::<Balance>()["properties"]["balance"];
        assert_eq!(balance["maximum"], crate::BALANCE_LIMIT);
        let price = &schema::<PriceRange>()["properties"]["price"];
        assert_eq!(price["maximum"], crate::catalog::MAX_SEAT_PRICE);
        let seats = &schema::<NewPerformanceRequest>()["properties"]["total_seats"];
        assert_eq!(seats["maximum"], crate::SEATS_PER_PERFORMANCE);
        for capacity in [
            &schema::<NewConcertRequest>()["properties"]["queue_capacity"],
            &schema::<ConcertChanges>()["properties"]["queue_capacity"],
        ] {
            assert_eq!(capacity["maximum"], crate::catalog::MAX_QUEUE_CAPACITY);
        }
    }

    #[test]
    fn the_schemas_keep_the_names_the_document_has_always_used() {
        assert_eq!(crate::rules::StoredReservation::name(), "ReservationStatus");
        assert_eq!(crate::queue::QueueStatus::name(), "QueueStatus");
        assert_eq!(crate::RejectReason::name(), "RejectReason");
    }

    #[test]
    fn nullable_fields_are_required_so_they_are_always_present() {
        let outcome = schema::<RequestOutcome>();
        let required = outcome["required"].as_array().cloned().unwrap_or_default();
        for field in ["reason", "result"] {
            assert!(required.contains(&Value::from(field)), "{field}");
        }
        let status = schema::<QueueStatusResponse>();
        let required = status["required"].as_array().cloned().unwrap_or_default();
        assert!(required.contains(&Value::from("active_until")));
    }
}
