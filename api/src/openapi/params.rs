//! The parameters the handlers read by hand (a header, query values), so
//! the document declares them: `Idempotency-Key`, `?wait_ms=`, `?status=`,
//! `?include_sold_out=`.

use domain::rules::SeatStatus;
use serde_json::json;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Ref, Required};
use utoipa::{IntoParams, ToSchema};

/// The optional `Idempotency-Key` header of commands and charges.
pub struct IdempotencyKeyHeader;

impl IntoParams for IdempotencyKeyHeader {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "1..=128 visible ASCII characters. The same key from the same user with the same \
                 body returns the original response and never a second effect; with a different \
                 body it is `422 IDEMPOTENCY_KEY_REUSED`.",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(128))
                    .pattern(Some("^[!-~]+$")),
            ))
            .example(Some(json!("3f1c2a8e-seat-7")))
            .build()]
    }
}

/// `?wait_ms=` of `GET /v1/requests/{request_id}`.
pub struct WaitMsQuery;

impl IntoParams for WaitMsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![ParameterBuilder::new()
            .name("wait_ms")
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(
                "Hold the answer until the status is final or this many milliseconds pass \
                 (long poll). Default 0: answer at once.",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    .maximum(Some(crate::routes::MAX_WAIT_MS))
                    .default(Some(json!(0))),
            ))
            .example(Some(json!(10000)))
            .build()]
    }
}

/// `?status=` of the seat map.
pub struct SeatStatusQuery;

impl IntoParams for SeatStatusQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![ParameterBuilder::new()
            .name("status")
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some("Only the seats with this status."))
            .schema(Some(Ref::from_schema_name(SeatStatus::name())))
            .build()]
    }
}

/// `?include_sold_out=` of a concert's dates.
pub struct SoldOutQuery;

impl IntoParams for SoldOutQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![ParameterBuilder::new()
            .name("include_sold_out")
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(
                "`true` lists sold-out future dates too (with `available_seats` 0), so a client \
                 can offer their waitlist. Default `false`.",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .default(Some(json!(false))),
            ))
            .build()]
    }
}
