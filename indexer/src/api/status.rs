//! Operations endpoints: `/health`, `/ready`, `/metrics`, `/openapi.json`, `/v1/status`,
//! `/v1/stats`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiError;
use super::params::Query;
use super::queries::{self, ChainStatus, Stats};
use super::{Ctx, JsonResult, NoParams, OPENAPI};

/// The indexer counts as caught up (ready) while the chain head is at most this many blocks
/// ahead of the checkpoint: in live follow the head is recorded just before the batch that
/// indexes it, so a strict 0 would flap at every block.
pub const READY_MAX_LAG: i64 = 2;

/// Liveness: the process answers. No database access.
pub(super) async fn health(Query(_): Query<NoParams>) -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Body of `/health`.
#[derive(Debug, Serialize)]
pub(super) struct Health {
    status: &'static str,
}

/// Indexing status: the stored checkpoint and head, the lag, and whether the indexer is
/// caught up.
#[derive(Debug, Serialize)]
pub(super) struct IndexingStatus {
    #[serde(flatten)]
    stored: ChainStatus,
    /// `head_block - indexed_block` (0 when the checkpoint is ahead), null before a head is seen.
    lag: Option<i64>,
    /// Caught up: a head was seen and `lag <= READY_MAX_LAG`.
    ready: bool,
}

async fn indexing_status(ctx: &Ctx) -> Result<IndexingStatus, ApiError> {
    let Some(stored) = queries::status(&ctx.pool, ctx.chain_id).await? else {
        return Err(ApiError::not_found(format!(
            "chain {} is not indexed by this database (yet)",
            ctx.chain_id
        )));
    };
    let lag = stored.head_block.map(|h| (h - stored.indexed_block).max(0));
    let ready = lag.is_some_and(|l| l <= READY_MAX_LAG);
    Ok(IndexingStatus { stored, lag, ready })
}

pub(super) async fn status(
    State(ctx): State<Ctx>,
    Query(_): Query<NoParams>,
) -> JsonResult<IndexingStatus> {
    indexing_status(&ctx).await.map(Json)
}

/// Readiness: 200 with the indexing status once caught up, 503 otherwise (also when the
/// database cannot be reached or the chain is not initialised yet), and 503 with the error
/// `unavailable` whose message is the reason when ingestion in this process is stuck ([`crate::metrics::Metrics::stalled`]: no fresh
/// chain head, or a checkpoint that has not moved while the head has, for longer than
/// [`crate::metrics::STALL_AFTER`]).
pub(super) async fn ready(State(ctx): State<Ctx>, Query(_): Query<NoParams>) -> Response {
    match indexing_status(&ctx).await {
        Ok(s) => {
            let stalled = ctx
                .metrics
                .stalled(crate::metrics::now_ms(), crate::metrics::STALL_AFTER);
            match stalled {
                None if s.ready => (StatusCode::OK, Json(s)).into_response(),
                None => (StatusCode::SERVICE_UNAVAILABLE, Json(s)).into_response(),
                // the documented error shape, code `unavailable`, the reason as its message
                Some(reason) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(serde_json::json!({"error": {"code": "unavailable", "message": reason}})),
                )
                    .into_response(),
            }
        }
        Err(e) => {
            // a failing database or an uninitialised chain is "not ready", whatever the error
            let mut r = e.into_response();
            *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            r
        }
    }
}

/// The totals, from the stats cache (at most its `max_age` behind the database).
pub(super) async fn stats(State(ctx): State<Ctx>, Query(_): Query<NoParams>) -> JsonResult<Stats> {
    Ok(Json(ctx.stats.get(&ctx.pool, ctx.chain_id).await?))
}

/// Prometheus text: the ingestion metrics, the API's request metrics, the API pool's
/// connections.
pub(super) async fn metrics(State(ctx): State<Ctx>, Query(_): Query<NoParams>) -> Response {
    let mut text = ctx.metrics.render();
    ctx.http.render(&mut text);
    text.push_str(
        "# HELP indexer_db_pool_connections Open database connections of the API's pool.\n",
    );
    text.push_str("# TYPE indexer_db_pool_connections gauge\n");
    text.push_str(&format!(
        "indexer_db_pool_connections {}\n",
        ctx.pool.size()
    ));
    text.push_str(
        "# HELP indexer_db_pool_idle_connections Idle database connections of the API's pool.\n",
    );
    text.push_str("# TYPE indexer_db_pool_idle_connections gauge\n");
    text.push_str(&format!(
        "indexer_db_pool_idle_connections {}\n",
        ctx.pool.num_idle()
    ));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The OpenAPI document.
pub(super) async fn openapi(Query(_): Query<NoParams>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
