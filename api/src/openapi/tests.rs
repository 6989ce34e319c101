//! The document's own tests: it lists SPEC's endpoints, declares what
//! they take, and every reference in it resolves.

use super::*;
use crate::routes::document;
use std::collections::BTreeSet;

/// SPEC's endpoint table, verbatim.
const SPEC_ENDPOINTS: &[(&str, &str)] = &[
    ("post", "/v1/users"),
    ("post", "/v1/queue/tokens"),
    ("get", "/v1/queue/status"),
    ("get", "/v1/queue/events"),
    ("get", "/v1/concerts"),
    ("get", "/v1/concerts/{concert_id}/performances"),
    ("get", "/v1/performances/{performance_id}/seats"),
    ("post", "/v1/reservations"),
    ("post", "/v1/payments"),
    ("post", "/v1/reservations/{reservation_id}/cancel"),
    ("post", "/v1/performances/{performance_id}/waitlist"),
    ("delete", "/v1/performances/{performance_id}/waitlist"),
    ("get", "/v1/requests/{request_id}"),
    ("get", "/v1/reservations"),
    ("get", "/v1/tickets"),
    ("get", "/v1/balance"),
    ("post", "/v1/balance/charges"),
    ("post", "/v1/admin/concerts"),
    ("patch", "/v1/admin/concerts/{concert_id}"),
    ("post", "/v1/admin/concerts/{concert_id}/performances"),
    ("get", "/v1/admin/performances/{performance_id}/report"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/"),
    ("get", "/openapi.json"),
    ("get", "/docs"),
];

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            if METHODS.contains(&method.as_str()) {
                out.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    out
}

#[test]
fn the_document_is_openapi_3_1_and_lists_exactly_the_spec_endpoints() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = operations(doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let spec: BTreeSet<(String, String)> = SPEC_ENDPOINTS
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        documented.difference(&spec).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented but not in SPEC"
    );
    assert_eq!(
        spec.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "in SPEC but not documented"
    );
}

#[test]
fn every_operation_is_described_and_declares_its_path_parameters() {
    for (method, path, op) in operations(document()) {
        let what = format!("{method} {path}");
        assert!(op["summary"].is_string(), "{what} has no summary");
        assert!(op["tags"].is_array(), "{what} has no tag");
        let responses = op["responses"].as_object().cloned().unwrap_or_default();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{what} has no success response"
        );
        for response in responses.values() {
            assert!(
                response["headers"]["x-request-id"].is_object(),
                "{what}: a response lacks x-request-id"
            );
        }
        let declared: BTreeSet<String> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect();
        let in_template: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(str::to_owned)
            .collect();
        assert_eq!(declared, in_template, "{what}: path parameters");
    }
}

#[test]
fn token_endpoints_name_the_bearer_scheme_and_their_token_errors() {
    let doc = document();
    assert_eq!(
        doc["components"]["securitySchemes"][BEARER]["scheme"],
        "bearer"
    );
    assert_eq!(
        doc["components"]["securitySchemes"][ADMIN]["scheme"],
        "bearer"
    );
    for (method, path, op) in operations(doc) {
        let names = |scheme: &str| {
            op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get(scheme).is_some()))
        };
        let admin = path.starts_with("/v1/admin/");
        assert_eq!(names(ADMIN), admin, "{method} {path}: admin security");
        if admin {
            assert!(
                op["responses"]["404"].is_object(),
                "{method} {path}: no 404 for ADMIN_TOKEN unset"
            );
        }
        let secured = names(BEARER) || names(ADMIN);
        let public = matches!(
            path.as_str(),
            "/v1/users"
                | "/v1/concerts"
                | "/healthz"
                | "/readyz"
                | "/metrics"
                | "/"
                | "/openapi.json"
                | "/docs"
        );
        assert_eq!(secured, !public, "{method} {path}: security");
        if secured {
            assert!(
                op["responses"]["401"].is_object(),
                "{method} {path}: no 401"
            );
        }
    }
}

#[test]
fn commands_and_charges_take_an_idempotency_key_and_long_polls_take_wait_ms() {
    let doc = document();
    let has_param = |method: &str, path: &str, name: &str, place: &str| {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == place))
    };
    for path in ["/v1/reservations", "/v1/payments", "/v1/balance/charges"] {
        assert!(
            has_param("post", path, "Idempotency-Key", "header"),
            "{path}"
        );
    }
    assert!(has_param(
        "get",
        "/v1/requests/{request_id}",
        "wait_ms",
        "query"
    ));
    let register = &doc["paths"]["/v1/users"]["post"]["requestBody"];
    assert_ne!(register["required"], true, "an empty body registers too");
    assert_eq!(
        register["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/RegisterRequest"
    );
    assert!(has_param(
        "get",
        "/v1/performances/{performance_id}/seats",
        "status",
        "query"
    ));
}

#[test]
fn every_reference_resolves() {
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r.clone());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let doc = document();
    let mut found = Vec::new();
    refs(doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let pointer = r.strip_prefix('#').unwrap_or(&r);
        assert!(doc.pointer(pointer).is_some(), "dangling {r}");
    }
}

#[test]
fn the_error_codes_are_every_code_of_the_enum_with_its_status() {
    // The enum is the only list of codes (the answers carry its values); the
    // document must list each of them, and each error response must sit
    // under its code's status.
    let doc = document();
    let schema: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let all: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
    assert_eq!(schema, all);
    for (method, path, op) in operations(doc) {
        for (status, response) in op["responses"].as_object().into_iter().flatten() {
            let examples = &response["content"]["application/problem+json"]["examples"];
            for example in examples.as_object().into_iter().flatten().map(|e| e.1) {
                let problem: Problem = serde_json::from_value(example["value"].clone())
                    .unwrap_or_else(|e| panic!("{method} {path} {status}: {e}"));
                assert_eq!(
                    problem.code.status().as_str(),
                    status,
                    "{method} {path}: {:?}",
                    problem.code
                );
                assert_eq!(problem.status.to_string(), *status);
            }
        }
    }
}

#[test]
fn the_reject_reasons_are_the_domains() {
    let domain: Vec<&str> = RejectReason::ALL.iter().map(|r| r.code()).collect();
    let schema = &document()["components"]["schemas"]["RejectReason"]["enum"];
    assert_eq!(schema, &json!(domain));
}
