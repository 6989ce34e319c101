//! The document's own endpoints: `/openapi.json` and Swagger UI at `/docs`.
//! They live beside the router because the document is built from the
//! router's list of routes ([`super::api_routes`]).

use crate::http::error::{ApiError, ErrorCode};
use axum::response::IntoResponse;
use serde_json::Value;
use std::sync::OnceLock;

/// The document as served at `/openapi.json`: built once per process.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| crate::openapi::finish(super::api_routes().into_openapi()))
}

/// `GET /openapi.json`
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "page",
    summary = "This OpenAPI document",
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json", body = serde_json::Value))
)]
pub async fn openapi_json() -> axum::Json<&'static Value> {
    axum::Json(document())
}

/// `GET /docs`: Swagger UI for this document, assets served from the crate.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "page",
    summary = "Swagger UI",
    responses((status = 200, description = "Swagger UI", content_type = "text/html", body = String))
)]
pub async fn swagger_ui() -> axum::response::Response {
    swagger_file("")
}

/// `GET /docs/{*file}`: the Swagger UI assets.
pub async fn swagger_asset(
    axum::extract::Path(file): axum::extract::Path<String>,
) -> axum::response::Response {
    swagger_file(&file)
}

/// One file of Swagger UI, from the assets compiled into the crate.
fn swagger_file(file: &str) -> axum::response::Response {
    use axum::http::header;
    static CONFIG: OnceLock<std::sync::Arc<utoipa_swagger_ui::Config<'static>>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        std::sync::Arc::new(
            utoipa_swagger_ui::Config::from("/openapi.json")
                .try_it_out_enabled(true)
                .persist_authorization(true)
                .display_request_duration(true),
        )
    });
    match utoipa_swagger_ui::serve(file, config.clone()) {
        Ok(Some(found)) => {
            let mut bytes = found.bytes.into_owned();
            if !found.gzpipped && (file.is_empty() || file == "index.html") {
                // Served at /docs (no trailing slash): resolve the relative
                // asset links against /docs/.
                let html = String::from_utf8_lossy(&bytes).replacen(
                    "<head>",
                    "<head><base href=\"/docs/\">",
                    1,
                );
                bytes = html.into_bytes();
            }
            let mut response =
                ([(header::CONTENT_TYPE, found.content_type)], bytes).into_response();
            if found.gzpipped {
                response.headers_mut().insert(
                    header::CONTENT_ENCODING,
                    axum::http::HeaderValue::from_static("gzip"),
                );
            }
            response
        }
        Ok(None) => crate::http::error::problem(ErrorCode::NotFound, "no such file"),
        Err(e) => {
            ApiError::Internal(anyhow::anyhow!("serving Swagger UI failed: {e}")).into_response()
        }
    }
}
