//! Response framing the simulators and the fault layer share: bodies with a status and
//! content type, empty answers, a proxy's HTML error page, `Retry-After`, and the rewrite of
//! axum's plain-text rejections into the vendor's error body. Re-exported by the kit.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// `body` with this status and content type.
pub fn bytes(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// `v` as JSON with this status and content type (vendors spell it differently).
pub fn json(status: StatusCode, content_type: &'static str, v: &Value) -> Response {
    match serde_json::to_vec(v) {
        Ok(body) => bytes(status, content_type, body),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// 204 with no body.
pub fn no_content() -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

/// This status with no body and no content type.
pub fn empty(status: StatusCode) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    resp
}

/// The error page a proxy in front of the server (`nginx`, `cloudflare`) answers with.
pub fn proxy_page(status: StatusCode, proxy: &str) -> Response {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let page = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>{proxy}</center>\r\n</body>\r\n</html>\r\n"
    );
    bytes(status, "text/html", page)
}

/// Set `Retry-After: secs`.
pub fn retry_after(mut resp: Response, secs: u64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// Turn axum's own plain-text rejections (bad JSON, bad query, 405, 404) into the vendor's
/// error body made by `vendor_error`, keeping `Allow`. JSON is already the vendor's format
/// and HTML pages come from a proxy (the fault layer playing one): both pass as they are.
pub fn normalise(resp: Response, vendor_error: impl FnOnce(StatusCode) -> Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let keep = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with("text/html"));
    if keep {
        return resp;
    }
    let allow = resp.headers().get(header::ALLOW).cloned();
    let mut out = vendor_error(status);
    if let Some(allow) = allow {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    out
}
