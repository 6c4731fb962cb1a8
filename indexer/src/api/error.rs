//! The API's error type: every failure of a handler becomes one [`ApiError`], rendered in one
//! place ([`IntoResponse`]) as `{"error":{"code":"...","message":"..."}}` with a stable code.
//!
//! Client mistakes (malformed addresses, ids, cursors, limits, unknown parameters) are 4xx with a
//! message that names the offending parameter; server faults are 5xx with a generic message,
//! the detail (SQL errors included) goes to the log only, under the `indexer::api` target.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Result alias of the API handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// A failed API request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed: bad parameter, cursor, limit or unknown filter (400,
    /// `bad_request`).
    #[error("{0}")]
    BadRequest(String),
    /// The route exists but the resource does not (404, `not_found`).
    #[error("{0}")]
    NotFound(String),
    /// No route matches the path (404, `route_not_found`).
    #[error("no route for {0}")]
    RouteNotFound(String),
    /// The route exists but not for this method (405, `method_not_allowed`).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The database cannot be reached right now, or the API's pool has no free connection
    /// within its acquire timeout (503, `unavailable`).
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// A statement ran longer than the API's statement timeout and PostgreSQL cancelled it
    /// (503, `query_timeout`; SQLSTATE 57014). The request may succeed when retried later.
    #[error("the query took too long and was cancelled; retry later")]
    QueryTimeout,
    /// Any other server-side fault (500, `internal`). The detail is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    /// A 404 with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    /// The HTTP status of the error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) | Self::RouteNotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable(_) | Self::QueryTimeout => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::NotFound(_) => "not_found",
            Self::RouteNotFound(_) => "route_not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Unavailable(_) => "unavailable",
            Self::QueryTimeout => "query_timeout",
            Self::Internal(_) => "internal",
        }
    }
}

/// SQLSTATE `query_canceled`: what PostgreSQL answers when `statement_timeout` fires.
const QUERY_CANCELED: &str = "57014";

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(e)
            }
            sqlx::Error::Database(ref d) if d.code().as_deref() == Some(QUERY_CANCELED) => {
                tracing::warn!(target: "indexer::api", error = %d, "statement cancelled by the statement timeout");
                Self::QueryTimeout
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Internal(detail) => {
                tracing::error!(target: "indexer::api", %detail, "request failed")
            }
            Self::Unavailable(e) => {
                tracing::warn!(target: "indexer::api", error = %e, "database unavailable")
            }
            // logged where the SQL error was converted, with its text
            Self::QueryTimeout => {}
            other => {
                tracing::debug!(target: "indexer::api", code = other.code(), message = %other, "client error")
            }
        }
        // `Display` of the server-side variants is generic, so no SQL or internal text leaks.
        let body = Body {
            error: Inner {
                code: self.code(),
                message: self.to_string(),
            },
        };
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_do_not_leak_detail() {
        let e = ApiError::from(sqlx::Error::Protocol("SELECT secret FROM t".into()));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.code(), "internal");
        assert_eq!(e.to_string(), "internal error");
        let e = ApiError::from(sqlx::Error::PoolTimedOut);
        assert_eq!(
            (e.status(), e.code(), e.to_string().as_str()),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "database unavailable"
            )
        );
    }
}
