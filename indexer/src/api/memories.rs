//! `/v1/memories...` and `/v1/best`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::params::{self, Cursor, DEFAULT_LIMIT, MAX_LIMIT, Path, Query};
use super::queries::{
    self, Best, Certificate, EventList, Filter, Memory, ProvenanceNode, Transfer,
};
use super::{Ctx, JsonResult, NoParams, Page, before, page};

/// Filters of `GET /v1/memories`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListParams {
    owner: Option<String>,
    creator: Option<String>,
    kind: Option<String>,
    source_model: Option<String>,
    target_model: Option<String>,
    tier: Option<String>,
    min_tier: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

pub(super) async fn list(
    State(ctx): State<Ctx>,
    Query(p): Query<ListParams>,
) -> JsonResult<Page<Memory>> {
    let limit = params::limit(p.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = Cursor::token("memories", p.cursor.as_deref())?;
    let mut filters = Vec::new();
    if let Some(v) = params::opt_address("owner", p.owner.as_deref())? {
        filters.push(Filter::Bytes("m.owner", v));
    }
    if let Some(v) = params::opt_address("creator", p.creator.as_deref())? {
        filters.push(Filter::Bytes("m.creator", v));
    }
    if let Some(v) = params::kind(p.kind.as_deref())? {
        filters.push(Filter::Eq16("m.kind", v));
    }
    if let Some(v) = params::text("source_model", p.source_model)? {
        filters.push(Filter::Text("m.source_model", v));
    }
    if let Some(v) = params::text("target_model", p.target_model)? {
        filters.push(Filter::Text("m.target_model", v));
    }
    if let Some(v) = params::tier("tier", p.tier.as_deref())? {
        filters.push(Filter::Eq16("ac.level", v));
    }
    if let Some(v) = params::tier("min_tier", p.min_tier.as_deref())? {
        filters.push(Filter::Ge16("ac.level", v));
    }
    let rows = queries::memories(&ctx.pool, ctx.chain_id, filters, after, limit).await?;
    page(rows, limit, "memories")
}

fn unknown(id: &str) -> ApiError {
    ApiError::not_found(format!("memory {id} does not exist"))
}

/// One memory, served from the detail cache when valid (see [`super::cache`]).
pub(super) async fn detail(
    State(ctx): State<Ctx>,
    Path(id): Path,
    Query(_): Query<NoParams>,
) -> Result<Response, ApiError> {
    let id = params::token_id("id", &id)?;
    // the generation is read before the query: see the cache's docs
    let cache = ctx
        .detail_cache
        .as_ref()
        .and_then(|c| c.generation().map(|g| (c, g)));
    if let Some((c, generation)) = cache
        && let Some(body) = c.get(&id, generation)
    {
        return Ok(json_bytes(body));
    }
    let Some(d) = queries::memory_detail(&ctx.pool, ctx.chain_id, &id).await? else {
        return Err(unknown(&id));
    };
    let body = Bytes::from(
        serde_json::to_vec(&d).map_err(|e| ApiError::Internal(format!("serialize: {e}")))?,
    );
    if let Some((c, generation)) = cache {
        c.put(
            id,
            generation,
            d.certificate.as_ref().map(|c| c.expires_at.0),
            body.clone(),
        );
    }
    Ok(json_bytes(body))
}

fn json_bytes(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Pagination of the per-memory event lists.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PageParams {
    limit: Option<i64>,
    cursor: Option<String>,
}

/// A page of a per-token event list; 404 when the page is empty because the token is unknown.
async fn token_events<T>(
    ctx: &Ctx,
    list: EventList,
    column: &'static str,
    id: String,
    p: PageParams,
) -> JsonResult<Page<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + queries::Keyed + Send + Unpin,
{
    let id = params::token_id("id", &id)?;
    let limit = params::limit(p.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = before(list.scope(), p.cursor.as_deref())?;
    let rows: Vec<T> = queries::events(
        &ctx.pool,
        list,
        ctx.chain_id,
        vec![Filter::Numeric(column, id.clone())],
        cursor,
        limit,
    )
    .await?;
    if rows.is_empty() && !queries::memory_exists(&ctx.pool, ctx.chain_id, &id).await? {
        return Err(unknown(&id));
    }
    page(rows, limit, list.scope())
}

pub(super) async fn transfers(
    State(ctx): State<Ctx>,
    Path(id): Path,
    Query(p): Query<PageParams>,
) -> JsonResult<Page<Transfer>> {
    token_events(&ctx, EventList::Transfers, "x.token_id", id, p).await
}

pub(super) async fn certificates(
    State(ctx): State<Ctx>,
    Path(id): Path,
    Query(p): Query<PageParams>,
) -> JsonResult<Page<Certificate>> {
    token_events(&ctx, EventList::Certificates, "x.token_id", id, p).await
}

/// Bounds of `GET /v1/memories/{id}/provenance`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProvenanceParams {
    max_depth: Option<i64>,
    limit: Option<i64>,
}

/// Default and largest depth of a provenance walk.
const DEFAULT_DEPTH: i64 = 8;
const MAX_DEPTH: i64 = 64;
/// Default and largest number of nodes per direction.
const DEFAULT_NODES: i64 = 100;
const MAX_NODES: i64 = 1000;

/// Ancestors and descendants of a memory.
#[derive(Debug, Serialize)]
pub(super) struct Provenance {
    token_id: String,
    max_depth: i64,
    ancestors: Vec<ProvenanceNode>,
    ancestors_truncated: bool,
    descendants: Vec<ProvenanceNode>,
    descendants_truncated: bool,
}

pub(super) async fn provenance(
    State(ctx): State<Ctx>,
    Path(id): Path,
    Query(p): Query<ProvenanceParams>,
) -> JsonResult<Provenance> {
    let id = params::token_id("id", &id)?;
    let max_depth = match p.max_depth {
        None => DEFAULT_DEPTH,
        Some(d) if (1..=MAX_DEPTH).contains(&d) => d,
        Some(d) => {
            return Err(ApiError::bad_request(format!(
                "invalid `max_depth` {d}: must be between 1 and {MAX_DEPTH}"
            )));
        }
    };
    let limit = params::limit(p.limit, DEFAULT_NODES, MAX_NODES)?;
    if !queries::memory_exists(&ctx.pool, ctx.chain_id, &id).await? {
        return Err(unknown(&id));
    }
    let depth = i32::try_from(max_depth).unwrap_or(i32::MAX);
    let walk = |ancestors| {
        queries::provenance_walk(&ctx.pool, ctx.chain_id, &id, ancestors, depth, limit + 1)
    };
    let (mut ancestors, mut descendants) = (walk(true).await?, walk(false).await?);
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    let (ancestors_truncated, descendants_truncated) =
        (ancestors.len() > cap, descendants.len() > cap);
    ancestors.truncate(cap);
    descendants.truncate(cap);
    Ok(Json(Provenance {
        token_id: id,
        max_depth,
        ancestors,
        ancestors_truncated,
        descendants,
        descendants_truncated,
    }))
}

/// Query of `GET /v1/best`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BestParams {
    source_model: String,
    target_model: String,
    min_tier: Option<String>,
}

pub(super) async fn best(State(ctx): State<Ctx>, Query(p): Query<BestParams>) -> JsonResult<Best> {
    let source = params::text("source_model", Some(p.source_model))?.unwrap_or_default();
    let target = params::text("target_model", Some(p.target_model))?.unwrap_or_default();
    let min_level = params::tier("min_tier", p.min_tier.as_deref())?.unwrap_or(1);
    match queries::best(&ctx.pool, ctx.chain_id, &source, &target, min_level).await? {
        Some(b) => Ok(Json(b)),
        None => Err(ApiError::not_found(format!(
            "no W-Matrix from {source:?} to {target:?} has a valid certificate of that tier"
        ))),
    }
}
