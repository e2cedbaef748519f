//! `/api/v1/security/*` (login, refresh, CSRF token, users, roles), `/api/v1/me/` and the
//! `_info` permission answers.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State as AxState};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::IntoResponse;
use serde_json::{json, Value};

use super::list::{self, Spec};
use super::state::{self, Role, State, ROLES};
use super::token::random_uuid;
use super::{authenticate, bearer_claims, caller_of, json_body, ok, ApiError, ApiResult, Shared};

fn issue(st: &State, user: u32, kind: &str, fresh: bool) -> String {
    let now_ms = state::now_ms();
    let iat = now_ms / 1000;
    let ttl = if kind == "refresh" {
        st.refresh_ttl
    } else {
        st.access_ttl
    };
    let exp = iat + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 4);
    st.signer.jwt(&json!({
        "fresh": fresh,
        "iat": iat,
        "jti": random_uuid(),
        "type": kind,
        "sub": user.to_string(),
        "nbf": iat,
        "csrf": random_uuid(),
        "exp": exp,
    }))
}

/// `POST /security/login` `{"username","password","provider":"db","refresh":true}`.
pub async fn login(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/json"));
    if !is_json {
        return Err(ApiError::bad_request("Request payload is not JSON"));
    }
    let body = json_body(&headers, &body)?;
    for key in ["username", "password"] {
        match body.get(key) {
            Some(Value::String(_)) => {}
            Some(_) => {
                return Err(ApiError::field_list(
                    StatusCode::BAD_REQUEST,
                    key,
                    "Not a valid string.",
                ))
            }
            None => {
                return Err(ApiError::field_list(
                    StatusCode::BAD_REQUEST,
                    key,
                    "Missing data for required field.",
                ))
            }
        }
    }
    match body.get("provider").and_then(Value::as_str) {
        None => {
            return Err(ApiError::message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Fatal error",
            ))
        }
        Some("db") => {}
        Some("ldap") => {
            return Err(ApiError::field_list(
                StatusCode::BAD_REQUEST,
                "provider",
                "Alternative authentication provider is not allowed",
            ))
        }
        Some(_) => {
            return Err(ApiError::field_list(
                StatusCode::BAD_REQUEST,
                "provider",
                "Must be one of: db, ldap.",
            ))
        }
    }
    let username = body.get("username").and_then(Value::as_str).unwrap_or("");
    let password = body.get("password").and_then(Value::as_str).unwrap_or("");
    let refresh = body
        .get("refresh")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut st = shared.lock();
    let Some(user) = st
        .users
        .values_mut()
        .find(|u| u.username == username && u.password == password && u.active)
    else {
        return Err(ApiError::message(
            StatusCode::UNAUTHORIZED,
            "Not authorized",
        ));
    };
    user.login_count += 1;
    let id = user.id;
    let mut out = json!({ "access_token": issue(&st, id, "access", true) });
    if refresh {
        out["refresh_token"] = Value::from(issue(&st, id, "refresh", true));
    }
    ok(StatusCode::OK, &out)
}

/// `POST /security/refresh` with the refresh token as bearer: a new (not fresh) access token.
pub async fn refresh(AxState(shared): AxState<Arc<Shared>>, headers: HeaderMap) -> ApiResult {
    let st = shared.lock();
    let claims = bearer_claims(&st, &headers, true)?;
    let caller = caller_of(&st, &claims)?;
    ok(
        StatusCode::OK,
        &json!({ "access_token": issue(&st, caller.id, "access", false) }),
    )
}

/// `GET /security/csrf_token/`: a token and the `session` cookie it is bound to.
pub async fn csrf_token(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult {
    let st = shared.lock();
    authenticate(&st, &method, &headers)?;
    let (token, cookie) = st.signer.csrf_pair();
    let mut resp = ok(StatusCode::OK, &json!({ "result": token }))?;
    if let Ok(v) =
        HeaderValue::from_str(&format!("session={cookie}; HttpOnly; Path=/; SameSite=Lax"))
    {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

pub async fn me(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult {
    let st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    let u = st.users.get(&caller.id).ok_or_else(ApiError::not_found)?;
    ok(
        StatusCode::OK,
        &json!({"result": {
            "email": u.email, "first_name": u.first_name, "id": u.id, "is_active": u.active,
            "is_anonymous": false, "last_name": u.last_name, "login_count": u.login_count,
            "username": u.username,
        }}),
    )
}

const USER_SPEC: Spec = Spec {
    kind: "user",
    title: "List User",
    list_columns: &[
        "active",
        "changed_by",
        "changed_on",
        "created_by",
        "created_on",
        "email",
        "fail_login_count",
        "first_name",
        "id",
        "last_login",
        "last_name",
        "login_count",
        "roles",
        "roles.id",
        "roles.name",
        "username",
    ],
    order_columns: &[
        "active",
        "changed_on",
        "created_on",
        "email",
        "first_name",
        "id",
        "last_name",
        "username",
    ],
    search_columns: &[
        "active",
        "email",
        "first_name",
        "id",
        "last_name",
        "username",
        "roles",
    ],
    default_order: ("id", false),
};

fn user_row(st: &State, id: u32) -> Value {
    let Some(u) = st.users.get(&id) else {
        return Value::Null;
    };
    json!({
        "active": u.active, "changed_by": null, "changed_on": state::naive(u.created_on),
        "created_by": null, "created_on": state::naive(u.created_on), "email": u.email,
        "fail_login_count": 0, "first_name": u.first_name, "id": u.id, "last_login": null,
        "last_name": u.last_name, "login_count": u.login_count,
        "roles": [{"id": u.role.id(), "name": u.role.name()}], "username": u.username,
    })
}

/// `GET /security/users/` (Admin only): lets a client resolve owner names to ids.
pub async fn list_users(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    if !caller.is_admin() {
        return Err(ApiError::forbidden());
    }
    let args = list::list_args(q.as_deref())?;
    let v = list::answer(
        &USER_SPEC,
        caller.role.name(),
        &args,
        st.users.keys().copied(),
        |id, col| {
            let row = user_row(&st, id);
            match col {
                "roles" => json!([st.users.get(&id).map(|u| u.role.id())]),
                c => row.get(c).cloned().unwrap_or(Value::Null),
            }
        },
        |id| user_row(&st, id),
        &st.lists,
    )?;
    ok(StatusCode::OK, &v)
}

/// `POST /security/users/` `{first_name,last_name,username,email,password,roles:[ids],active}`
/// → 201 `{"id": n}`.
pub async fn create_user(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let mut st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    if !caller.is_admin() {
        return Err(ApiError::forbidden());
    }
    let body = json_body(&headers, &body)?;
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    for k in [
        "first_name",
        "last_name",
        "username",
        "email",
        "password",
        "roles",
    ] {
        if !body.contains_key(k) {
            return Err(ApiError::field_list(
                StatusCode::BAD_REQUEST,
                k,
                "Missing data for required field.",
            ));
        }
    }
    let username = text("username").unwrap_or_default();
    if st.users.values().any(|u| u.username == username) {
        return Err(ApiError::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Username already exists",
        ));
    }
    let role = body
        .get("roles")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter().filter_map(Value::as_u64).max_by_key(|r| match r {
                1 => 3,
                3 => 2,
                _ => 1,
            })
        })
        .map(|r| match r {
            1 => Role::Admin,
            3 => Role::Alpha,
            _ => Role::Gamma,
        })
        .ok_or_else(|| {
            ApiError::field_list(
                StatusCode::UNPROCESSABLE_ENTITY,
                "roles",
                "Some roles do not exist",
            )
        })?;
    let id = State::next_id(&st.users);
    st.users.insert(
        id,
        state::User {
            id,
            username,
            first_name: text("first_name").unwrap_or_default(),
            last_name: text("last_name").unwrap_or_default(),
            email: text("email").unwrap_or_default(),
            password: text("password").unwrap_or_default(),
            role,
            active: body.get("active").and_then(Value::as_bool).unwrap_or(true),
            login_count: 0,
            created_on: state::now_ms(),
        },
    );
    st.touch();
    ok(StatusCode::CREATED, &json!({ "id": id }))
}

pub async fn list_roles(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult {
    let st = shared.lock();
    let caller = authenticate(&st, &method, &headers)?;
    if !caller.is_admin() {
        return Err(ApiError::forbidden());
    }
    let result: Vec<Value> = ROLES
        .iter()
        .map(|(id, name)| json!({"id": id, "name": name}))
        .collect();
    let ids: Vec<u32> = ROLES.iter().map(|(id, _)| *id).collect();
    ok(
        StatusCode::OK,
        &json!({"count": ROLES.len(), "ids": ids, "result": result}),
    )
}

async fn info(shared: &Shared, method: &Method, headers: &HeaderMap, resource: &str) -> ApiResult {
    let st = shared.lock();
    let caller = authenticate(&st, method, headers)?;
    let permissions: &[&str] = match (caller.role, resource) {
        (Role::Admin, "database") => &["can_write", "can_upload", "can_read", "can_export"],
        (Role::Admin, _) => &["can_write", "can_read", "can_export"],
        (Role::Alpha, "database") => &["can_read"],
        (Role::Alpha, _) => &["can_write", "can_read", "can_export"],
        (Role::Gamma, "database" | "dataset") => &[],
        (Role::Gamma, _) => &["can_read"],
    };
    ok(StatusCode::OK, &json!({ "permissions": permissions }))
}

macro_rules! info_route {
    ($name:ident, $resource:literal) => {
        pub async fn $name(
            AxState(shared): AxState<Arc<Shared>>,
            method: Method,
            headers: HeaderMap,
        ) -> axum::response::Response {
            match info(&shared, &method, &headers, $resource).await {
                Ok(r) => r,
                Err(e) => e.into_response(),
            }
        }
    };
}

info_route!(info_database, "database");
info_route!(info_dataset, "dataset");
info_route!(info_chart, "chart");
info_route!(info_dashboard, "dashboard");
