//! The edge of the API (SPEC rule 8 and Conventions, issue 13): what every
//! request and response goes through before and after its route.
//!
//! In: an `x-request-id` is kept only when it is 1..=128 visible ASCII
//! characters (else a new one is made); a duplicated `Authorization` or
//! `Idempotency-Key` is `400`; a JSON endpoint called with another content
//! type is `415` (so a cross-site form cannot post to it without a
//! preflight); an over-long URL is `414` and over-large headers `431`.
//! Out: every error is problem+json (a plain-text rejection of a layer or
//! extractor is replaced, never echoed), and every response carries
//! `X-Content-Type-Options`, `Referrer-Policy` and frame protection, with a
//! Content-Security-Policy on HTML.

use crate::http::error::{problem, problem_with_status, ErrorCode};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

/// Longest request target accepted (path and query).
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest total of header names and values accepted.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The CSP of HTML answers that set none of their own (Swagger UI runs an
/// inline script and styles; nothing may frame any page).
const HTML_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'";

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The middleware: checks the request, then dresses the response.
pub async fn edge(mut request: Request, next: Next) -> Response {
    keep_request_id_if_valid(request.headers_mut());
    let request_id = request.headers().get(REQUEST_ID).cloned();
    let response = match refuse(&request) {
        Some(refusal) => refusal,
        None => next.run(request).await,
    };
    let mut response = dress(response);
    // A refusal never reached the request-id layers: it gets the client's
    // (sane) id or a new one, like every other answer.
    if !response.headers().contains_key(REQUEST_ID) {
        let id = request_id.unwrap_or_else(|| {
            HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("generated"))
        });
        response.headers_mut().insert(REQUEST_ID, id);
    }
    response
}

/// Drops an `x-request-id` the API must not echo: several of them, or one
/// that is not 1..=128 visible ASCII characters (then one is generated).
fn keep_request_id_if_valid(headers: &mut HeaderMap) {
    let values: Vec<&HeaderValue> = headers.get_all(REQUEST_ID).iter().collect();
    let valid = match values.as_slice() {
        [one] => visible_ascii(one.as_bytes(), 128),
        _ => false,
    };
    if !valid {
        headers.remove(REQUEST_ID);
    }
}

fn visible_ascii(bytes: &[u8], max: usize) -> bool {
    !bytes.is_empty() && bytes.len() <= max && bytes.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// Why the request is refused before it reaches its route, if it is.
fn refuse(request: &Request) -> Option<Response> {
    let uri_len = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return Some(problem(
            ErrorCode::UriTooLong,
            "the request target is over 8 KiB",
        ));
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Some(problem(
            ErrorCode::HeadersTooLarge,
            "the request headers are over 16 KiB",
        ));
    }
    for name in [header::AUTHORIZATION, IDEMPOTENCY_KEY] {
        if request.headers().get_all(&name).iter().count() > 1 {
            return Some(problem(
                ErrorCode::ValidationError,
                &format!("the {name} header may be sent once"),
            ));
        }
    }
    if takes_json(request) && !json_content_type(request.headers()) {
        return Some(problem(
            ErrorCode::UnsupportedMediaType,
            "this endpoint takes `Content-Type: application/json`",
        ));
    }
    None
}

/// A request to a JSON endpoint that brings, or names, a body.
fn takes_json(request: &Request) -> bool {
    let writes = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH
    );
    if !writes || !request.uri().path().starts_with("/v1/") {
        return false;
    }
    let headers = request.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    has_body || headers.contains_key(header::CONTENT_TYPE)
}

/// `application/json`, or a `+json` type, with any parameters.
fn json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|t| t == "application/json" || t.ends_with("+json"))
}

/// Security headers on every response; an error that is not problem+json
/// (an extractor's or a layer's plain text) becomes one, without echoing.
fn dress(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    let mut response = if (status.is_client_error() || status.is_server_error()) && !is_problem {
        let (parts, _) = response.into_parts();
        let mut replaced =
            problem_with_status(status, generic_code(status), generic_detail(status));
        for (name, value) in &parts.headers {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                replaced.headers_mut().insert(name.clone(), value.clone());
            }
        }
        replaced
    } else {
        response
    };
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let html = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if html && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(HTML_CSP),
        );
    }
    response
}

/// The code of a layer's or extractor's rejection, by its status; a status
/// with no code of its own (a `408`, a `504`) keeps its status and gets the
/// nearest code.
fn generic_code(status: StatusCode) -> ErrorCode {
    match status {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::URI_TOO_LONG => ErrorCode::UriTooLong,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ErrorCode::HeadersTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        s if s.is_server_error() => ErrorCode::InternalError,
        _ => ErrorCode::ValidationError,
    }
}

fn generic_detail(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "no such endpoint or resource",
        StatusCode::METHOD_NOT_ALLOWED => "this endpoint does not take that method",
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is larger than 64 KiB",
        s if s.is_server_error() => "internal error",
        _ => "the request is malformed (path, query, headers or body)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn plain(status: StatusCode, content_type: &'static str, text: &'static str) -> Response {
        let mut response = Response::new(Body::from(text));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    }

    fn request(method: Method, uri: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn refused_status(r: &Request) -> Option<StatusCode> {
        refuse(r).map(|response| response.status())
    }

    #[test]
    fn json_endpoints_refuse_other_content_types_but_take_an_empty_body() {
        let form = [
            ("content-type", "application/x-www-form-urlencoded"),
            ("content-length", "3"),
        ];
        let text = [("content-type", "text/plain"), ("content-length", "2")];
        let json = [
            ("content-type", "application/json; charset=utf-8"),
            ("content-length", "2"),
        ];
        let bare_body = [("content-length", "2")];
        for (headers, want) in [
            (&form[..], Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)),
            (&text[..], Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)),
            (&bare_body[..], Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)),
            (&json[..], None),
            (&[][..], None),
        ] {
            let r = request(Method::POST, "/v1/users", headers);
            assert_eq!(refused_status(&r), want, "{headers:?}");
        }
        // Reads and pages are not JSON endpoints.
        let r = request(Method::GET, "/v1/balance", &text);
        assert_eq!(refused_status(&r), None);
    }

    #[test]
    fn a_duplicated_authorization_or_idempotency_key_is_refused() {
        for name in ["authorization", "idempotency-key"] {
            let r = request(Method::GET, "/v1/balance", &[(name, "a"), (name, "b")]);
            assert_eq!(refused_status(&r), Some(StatusCode::BAD_REQUEST), "{name}");
        }
    }

    #[test]
    fn over_long_targets_and_headers_are_refused_with_their_own_status() {
        let long = format!("/v1/{}", "a".repeat(MAX_URI_BYTES));
        let r = request(Method::GET, &long, &[]);
        assert_eq!(refused_status(&r), Some(StatusCode::URI_TOO_LONG));
        let big = "b".repeat(MAX_HEADER_BYTES);
        let r = request(Method::GET, "/v1/balance", &[("x-big", &big)]);
        assert_eq!(
            refused_status(&r),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
    }

    #[test]
    fn only_a_sane_request_id_is_kept() {
        for (value, kept) in [
            ("abc-123", true),
            (&"x".repeat(128)[..], true),
            (&"x".repeat(129)[..], false),
            ("has space", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(
                REQUEST_ID,
                HeaderValue::from_str(value).unwrap_or_else(|e| panic!("{e}")),
            );
            keep_request_id_if_valid(&mut headers);
            assert_eq!(headers.contains_key(REQUEST_ID), kept, "{value:?}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            REQUEST_ID,
            HeaderValue::from_bytes(b"a\xffb").unwrap_or_else(|e| panic!("{e}")),
        );
        keep_request_id_if_valid(&mut headers);
        assert!(!headers.contains_key(REQUEST_ID));
        let mut headers = HeaderMap::new();
        headers.append(REQUEST_ID, HeaderValue::from_static("one"));
        headers.append(REQUEST_ID, HeaderValue::from_static("two"));
        keep_request_id_if_valid(&mut headers);
        assert!(!headers.contains_key(REQUEST_ID));
    }

    #[tokio::test]
    async fn a_plain_text_error_becomes_a_problem_that_echoes_nothing() {
        let echoed = "Invalid URL: Cannot parse `AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`";
        let response = dress(plain(StatusCode::BAD_REQUEST, "text/plain", echoed));
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(
            response.headers()[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff"
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("AAAA"), "{text}");
        assert!(text.contains("VALIDATION_ERROR"), "{text}");
    }

    #[tokio::test]
    async fn a_rejection_with_no_code_of_its_own_keeps_its_status() {
        let response = dress(plain(
            StatusCode::REQUEST_TIMEOUT,
            "text/plain",
            "timed out",
        ));
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(problem["status"], 408);
        assert_eq!(problem["code"], "VALIDATION_ERROR");
        assert_eq!(problem["title"], "Request Timeout");
    }

    #[test]
    fn html_gets_a_csp_and_every_response_the_security_headers() {
        let response = dress(plain(StatusCode::OK, "text/html", "<p>hi</p>"));
        let h = response.headers();
        assert!(h[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap_or_default()
            .contains("frame-ancestors 'none'"));
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        let json = dress(plain(StatusCode::OK, "application/json", "{}"));
        assert!(!json.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        assert_eq!(json.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
}
