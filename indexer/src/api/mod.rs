//! The HTTP query API (axum): JSON under `/v1`, plus `/health`, `/ready`, `/metrics` and the
//! OpenAPI document at `/openapi.json` (checked in as `indexer/openapi.json`; a test checks
//! that it documents exactly the routes of [`app`] and that every answer conforms to it).
//!
//! - [`queries`] holds every SQL statement and the records they return;
//! - [`params`] validates everything a client sends;
//! - [`error::ApiError`] maps every failure to a JSON error with a stable code, in one place;
//! - [`stats`] caches the answer of `/v1/stats`.
//!
//! The API reads through a pool of its own ([`connect`]), separate from the ingestion's, with a
//! statement timeout: a flood of requests or a slow query holds API connections only, never the
//! writer's.
//!
//! ```no_run
//! # async fn demo(state: memory_indexer::AppState) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, memory_indexer::api::app(state)).await
//! # }
//! ```

pub mod cache;
pub mod error;
pub mod http_metrics;
pub mod params;
pub mod queries;
pub mod stats;

mod accounts;
mod certificates;
mod market;
mod memories;
mod status;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::Uri;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use self::cache::DetailCache;
use self::error::ApiError;
use self::http_metrics::HttpMetrics;
use self::params::Cursor;
use self::queries::Keyed;
use self::stats::StatsCache;
use crate::AppState;
use crate::metrics::Metrics;

/// What the handlers share: the configured chain's database and the metrics.
#[derive(Debug, Clone)]
struct Ctx {
    pool: PgPool,
    chain_id: i64,
    metrics: Arc<Metrics>,
    http: Arc<HttpMetrics>,
    detail_cache: Option<Arc<DetailCache>>,
    stats: Arc<StatsCache>,
}

/// A page of a list endpoint. `next_cursor` is present when more items follow; pass it as
/// `cursor` to get them.
#[derive(Debug, Serialize)]
struct Page<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

impl<T: Keyed> Page<T> {
    /// A page from `limit + 1` fetched rows (the extra row only signals a next page).
    fn new(mut rows: Vec<T>, limit: i64, scope: &str) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|r| r.cursor().encode(scope))
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }
}

/// Query string of routes that take no parameters: any parameter is refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

/// Every route of the API: path template and handler. The router is built from this list, so
/// it is also the list the OpenAPI document is checked against.
fn routes() -> Vec<(&'static str, MethodRouter<Ctx>)> {
    vec![
        ("/health", get(status::health)),
        ("/ready", get(status::ready)),
        ("/metrics", get(status::metrics)),
        ("/openapi.json", get(status::openapi)),
        ("/v1/status", get(status::status)),
        ("/v1/stats", get(status::stats)),
        ("/v1/memories", get(memories::list)),
        ("/v1/memories/{id}", get(memories::detail)),
        ("/v1/memories/{id}/transfers", get(memories::transfers)),
        ("/v1/memories/{id}/provenance", get(memories::provenance)),
        (
            "/v1/memories/{id}/certificates",
            get(memories::certificates),
        ),
        ("/v1/best", get(memories::best)),
        ("/v1/certificates", get(certificates::list)),
        ("/v1/certificates/{digest}", get(certificates::one)),
        ("/v1/accounts", get(accounts::list)),
        ("/v1/accounts/{address}", get(accounts::one)),
        ("/v1/accounts/{address}/approvals", get(accounts::approvals)),
        ("/v1/listings", get(market::listings)),
        ("/v1/sales", get(market::sales)),
        ("/v1/royalties", get(market::royalties)),
        ("/v1/royalties/totals", get(market::royalty_totals)),
        ("/v1/credits", get(market::credits)),
        ("/v1/withdrawals", get(market::withdrawals)),
    ]
}

/// The path templates of every route (all `GET`), in the order they are registered.
pub fn route_paths() -> Vec<&'static str> {
    routes().into_iter().map(|(p, _)| p).collect()
}

/// The OpenAPI 3.1 document served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// Options of the router.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Cache the answers of `GET /v1/memories/{id}` (see [`cache`]). On by default.
    pub detail_cache: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { detail_cache: true }
    }
}

/// The API router over `state`, with the default [`Options`].
pub fn app(state: AppState) -> Router {
    app_with(state, Options::default())
}

/// The API router over `state`. Call it inside a Tokio runtime (the detail cache polls the
/// checkpoint in a task; outside a runtime it is disabled). `/v1/stats` answers are at most
/// [`stats::DEFAULT_MAX_AGE`] old.
pub fn app_with(state: AppState, options: Options) -> Router {
    app_with_stats_max_age(state, options, stats::DEFAULT_MAX_AGE)
}

/// [`app_with`], with `/v1/stats` answers at most `stats_max_age` old (zero: never cached).
pub fn app_with_stats_max_age(
    state: AppState,
    options: Options,
    stats_max_age: Duration,
) -> Router {
    let routes = routes();
    let http = Arc::new(HttpMetrics::new(routes.iter().map(|(p, _)| *p)));
    let chain_id = i64::try_from(state.chain_id).unwrap_or(i64::MAX);
    let detail_cache = if options.detail_cache {
        DetailCache::start(state.pool.clone(), chain_id, state.metrics.clone())
    } else {
        None
    };
    let ctx = Ctx {
        pool: state.pool,
        chain_id,
        metrics: state.metrics,
        http: http.clone(),
        detail_cache,
        stats: Arc::new(StatsCache::new(stats_max_age)),
    };
    let mut router = Router::new();
    for (path, handler) in routes {
        router = router.route(path, handler);
    }
    router
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(http, track))
        .with_state(ctx)
}

/// Acquire timeout of the API's pool when statements have no timeout.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The API's own pool on `options`: at most `max_connections` connections, each with
/// `statement_timeout` (set in the startup packet, so no connection ever runs without it; zero
/// = no timeout). A request waits for a free connection at most as long as one statement may
/// run (10 s without a timeout), then answers `503 unavailable`.
///
/// The pool is opened lazily: the caller has already connected (and migrated) through the
/// writer's pool.
pub fn connect(
    options: PgConnectOptions,
    max_connections: u32,
    statement_timeout: Duration,
) -> PgPool {
    let millis = statement_timeout.as_millis().to_string();
    let acquire = if statement_timeout.is_zero() {
        ACQUIRE_TIMEOUT
    } else {
        statement_timeout
    };
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire)
        .connect_lazy_with(options.options([("statement_timeout", millis)]))
}

async fn route_not_found(uri: Uri) -> ApiError {
    let path: String = uri.path().chars().take(200).collect();
    ApiError::RouteNotFound(path)
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Counts every request by route template and status class, and times it.
async fn track(
    State(http): State<Arc<HttpMetrics>>,
    path: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let res = next.run(req).await;
    let (route, status, elapsed) = (
        path.as_ref().map(MatchedPath::as_str),
        res.status().as_u16(),
        start.elapsed(),
    );
    http.observe(route, status, elapsed);
    tracing::debug!(target: "indexer::api", route = route.unwrap_or("unmatched"), status, micros = elapsed.as_micros() as u64, "request");
    res
}

/// JSON answer of a handler.
type JsonResult<T> = Result<Json<T>, ApiError>;

/// A page answer.
fn page<T: Keyed>(rows: Vec<T>, limit: i64, scope: &str) -> JsonResult<Page<T>> {
    Ok(Json(Page::new(rows, limit, scope)))
}

/// The event-list cursor of `scope`, if any.
fn before(scope: &str, cursor: Option<&str>) -> Result<Option<(i64, i64)>, ApiError> {
    Cursor::event(scope, cursor)
}
