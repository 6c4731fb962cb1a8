//! `/v1/certificates...`.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::error::ApiError;
use super::params::{self, DEFAULT_LIMIT, MAX_LIMIT, Path, Query};
use super::queries::{self, CERT_STATUS, Certificate, EventList, Filter};
use super::{Ctx, JsonResult, NoParams, Page, before, page};

/// Filters of `GET /v1/certificates`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListParams {
    token_id: Option<String>,
    certifier: Option<String>,
    status: Option<String>,
    tier: Option<String>,
    min_tier: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

pub(super) async fn list(
    State(ctx): State<Ctx>,
    Query(p): Query<ListParams>,
) -> JsonResult<Page<Certificate>> {
    let list = EventList::Certificates;
    let limit = params::limit(p.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = before(list.scope(), p.cursor.as_deref())?;
    let mut filters = Vec::new();
    if let Some(v) = params::opt_token_id("token_id", p.token_id.as_deref())? {
        filters.push(Filter::Numeric("x.token_id", v));
    }
    if let Some(v) = params::opt_address("certifier", p.certifier.as_deref())? {
        filters.push(Filter::Bytes("x.certifier", v));
    }
    if let Some(cond) = params::choice("status", p.status.as_deref(), &CERT_STATUS)? {
        filters.push(Filter::Raw(cond));
    }
    if let Some(v) = params::tier("tier", p.tier.as_deref())? {
        filters.push(Filter::Eq16("x.level", v));
    }
    if let Some(v) = params::tier("min_tier", p.min_tier.as_deref())? {
        filters.push(Filter::Ge16("x.level", v));
    }
    let rows = queries::events(&ctx.pool, list, ctx.chain_id, filters, cursor, limit).await?;
    page(rows, limit, list.scope())
}

pub(super) async fn one(
    State(ctx): State<Ctx>,
    Path(digest): Path,
    Query(_): Query<NoParams>,
) -> JsonResult<Certificate> {
    let d = params::bytes32("digest", &digest)?;
    match queries::certificate(&ctx.pool, ctx.chain_id, &d).await? {
        Some(c) => Ok(Json(c)),
        None => Err(ApiError::not_found(format!(
            "certificate {} does not exist",
            digest.to_lowercase()
        ))),
    }
}
