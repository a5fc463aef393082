//! URL -> handler wiring: requests in, handler responses (or JSON errors) out. Also where the
//! request limits live: only `POST /v1/admin/model` reads a body (at most
//! [`MAX_MODEL_BYTES`], and only after the token checks out); every response is timed into
//! the route's histogram.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::handlers::{self, error};
use super::{sse, ServerState};

/// The largest model file accepted over HTTP.
pub const MAX_MODEL_BYTES: u64 = 256 * 1024 * 1024;

/// A request refused before its body is read.
#[derive(Debug)]
struct Refused {
    status: StatusCode,
    code: &'static str,
    message: &'static str,
}

impl warp::reject::Reject for Refused {}

fn with_state(
    state: Arc<ServerState>,
) -> impl Filter<Extract = (Arc<ServerState>,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

fn query() -> impl Filter<Extract = (HashMap<String, String>,), Error = Rejection> + Clone {
    warp::query::<HashMap<String, String>>()
}

/// Checks the admin token before any body is read.
async fn authorize(
    authorization: Option<String>,
    state: Arc<ServerState>,
) -> Result<Arc<ServerState>, Rejection> {
    let Some(admin) = state.admin.as_ref() else {
        return Err(warp::reject::custom(Refused {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message:
                "model swaps over HTTP are disabled: the server was started without an admin token",
        }));
    };
    // The scheme is case-insensitive (RFC 7235); the token is compared in constant time.
    let token = authorization.as_deref().and_then(|h| {
        let (scheme, token) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    if !token.is_some_and(|t| handlers::same_secret(t.as_bytes(), admin.token.as_bytes())) {
        return Err(warp::reject::custom(Refused {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "send the admin token as `Authorization: Bearer TOKEN`",
        }));
    }
    Ok(state)
}

/// Every route, with JSON errors and request metrics.
pub fn routes(
    state: Arc<ServerState>,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let s = || with_state(state.clone());
    // HEAD is answered like GET (hyper sends the head without the body).
    let get = || warp::get().or(warp::head()).unify();
    let predictions = warp::path!("v1" / "predictions")
        .and(get())
        .and(query())
        .and(s())
        .map(|q: HashMap<String, String>, s: Arc<ServerState>| {
            handlers::predictions(&s, &q).into_response()
        });
    let prediction = warp::path!("v1" / "predictions" / String)
        .and(get())
        .and(s())
        .map(|zone: String, s: Arc<ServerState>| handlers::prediction(&s, &zone).into_response());
    let history = warp::path!("v1" / "zones" / String / "history")
        .and(get())
        .and(query())
        .and(s())
        .map(
            |zone: String, q: HashMap<String, String>, s: Arc<ServerState>| {
                handlers::history(&s, &zone, &q).into_response()
            },
        );
    let evaluation = warp::path!("v1" / "evaluation")
        .and(get())
        .and(s())
        .map(|s: Arc<ServerState>| handlers::evaluation(&s).into_response());
    let status = warp::path!("v1" / "status")
        .and(get())
        .and(s())
        .map(|s: Arc<ServerState>| handlers::status(&s).into_response());
    let stream = warp::path!("v1" / "stream")
        .and(get())
        .and(s())
        .and(warp::header::optional::<String>("last-event-id"))
        .map(|s: Arc<ServerState>, last: Option<String>| {
            match last.map(|id| id.trim().parse::<u64>()).transpose() {
                Ok(last) => sse::stream(s, last).into_response(),
                Err(_) => handlers::error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "Last-Event-ID must be the id (a whole number) of an event of this stream; reconnect without it to start afresh",
                )
                .into_response(),
            }
        });
    let healthz = warp::path!("healthz")
        .and(get())
        .map(|| handlers::healthz().into_response());
    let readyz = warp::path!("readyz")
        .and(get())
        .and(s())
        .map(|s: Arc<ServerState>| handlers::readyz(&s).into_response());
    let metrics = warp::path!("metrics")
        .and(get())
        .and(s())
        .map(|s: Arc<ServerState>| handlers::metrics(&s).into_response());
    let openapi = warp::path!("openapi.json")
        .and(get())
        .map(|| handlers::openapi().into_response());
    let dashboard = warp::path::end()
        .and(get())
        .map(|| handlers::dashboard().into_response());
    let admin = warp::path!("v1" / "admin" / "model")
        .and(warp::post())
        .and(warp::header::optional::<String>("authorization"))
        .and(s())
        .and_then(authorize)
        .and(warp::body::content_length_limit(MAX_MODEL_BYTES))
        .and(warp::body::bytes())
        .map(|s: Arc<ServerState>, body: Bytes| handlers::admin_model(&s, &body).into_response());
    let observed = state.clone();
    predictions
        .or(prediction)
        .unify()
        .or(history)
        .unify()
        .or(evaluation)
        .unify()
        .or(status)
        .unify()
        .or(stream)
        .unify()
        .or(healthz)
        .unify()
        .or(readyz)
        .unify()
        .or(metrics)
        .unify()
        .or(openapi)
        .unify()
        .or(dashboard)
        .unify()
        .or(admin)
        .unify()
        .recover(recover)
        .unify()
        .with(warp::log::custom(move |info| {
            observed
                .http
                .observe(info.path(), info.status().as_u16(), info.elapsed())
        }))
}

/// Rejections as JSON errors.
async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    let response = if let Some(refused) = rejection.find::<Refused>() {
        error(refused.status, refused.code, refused.message)
    } else if rejection.is_not_found() {
        error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such endpoint: see /openapi.json for the API",
        )
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {MAX_MODEL_BYTES} bytes"),
        )
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
        error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send the model file with a Content-Length header",
        )
    } else if rejection.find::<warp::reject::InvalidQuery>().is_some() {
        error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the query string could not be read",
        )
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not take that method: see /openapi.json",
        )
    } else {
        tracing::warn!(?rejection, "unhandled request rejection");
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server could not answer; see its log",
        )
    };
    Ok(response.into_response())
}
