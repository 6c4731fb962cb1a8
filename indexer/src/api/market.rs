//! `/v1/listings`, `/v1/sales`, `/v1/royalties...`, `/v1/credits`, `/v1/withdrawals`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::params::{self, DEFAULT_LIMIT, MAX_LIMIT, Query};
use super::queries::{
    self, EventList, Filter, LISTING_STATUS, LedgerEntry, Listing, RoyaltyPayment, RoyaltyTotal,
    Sale, Withdrawal,
};
use super::{Ctx, JsonResult, Page, before, page};

/// Filters of `GET /v1/listings`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListingParams {
    token_id: Option<String>,
    seller: Option<String>,
    status: Option<String>,
    live: Option<bool>,
    limit: Option<i64>,
    cursor: Option<String>,
}

pub(super) async fn listings(
    State(ctx): State<Ctx>,
    Query(p): Query<ListingParams>,
) -> JsonResult<Page<Listing>> {
    let list = EventList::Listings;
    let limit = params::limit(p.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = before(list.scope(), p.cursor.as_deref())?;
    let mut filters = Vec::new();
    if let Some(v) = params::opt_token_id("token_id", p.token_id.as_deref())? {
        filters.push(Filter::Numeric("x.token_id", v));
    }
    if let Some(v) = params::opt_address("seller", p.seller.as_deref())? {
        filters.push(Filter::Bytes("x.seller", v));
    }
    if let Some(cond) = params::choice("status", p.status.as_deref(), &LISTING_STATUS)? {
        filters.push(Filter::Raw(cond));
    }
    if let Some(live) = p.live {
        filters.push(queries::listings_live(live));
    }
    let rows = queries::events(&ctx.pool, list, ctx.chain_id, filters, cursor, limit).await?;
    page(rows, limit, list.scope())
}

/// Filters of `GET /v1/sales`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SaleParams {
    token_id: Option<String>,
    seller: Option<String>,
    buyer: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

pub(super) async fn sales(
    State(ctx): State<Ctx>,
    Query(p): Query<SaleParams>,
) -> JsonResult<Page<Sale>> {
    let list = EventList::Sales;
    let limit = params::limit(p.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = before(list.scope(), p.cursor.as_deref())?;
    let mut filters = Vec::new();
    if let Some(v) = params::opt_token_id("token_id", p.token_id.as_deref())? {
        filters.push(Filter::Numeric("x.token_id", v));
    }
    if let Some(v) = params::opt_address("seller", p.seller.as_deref())? {
        filters.push(Filter::Bytes("x.seller", v));
    }
    if let Some(v) = params::opt_address("buyer", p.buyer.as_deref())? {
        filters.push(Filter::Bytes("x.buyer", v));
    }
    let rows = queries::events(&ctx.pool, list, ctx.chain_id, filters, cursor, limit).await?;
    page(rows, limit, list.scope())
}

/// Filters of `GET /v1/royalties`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RoyaltyParams {
    recipient: Option<String>,
    beneficiary_token_id: Option<String>,
    sale_token_id: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

pub(super) async fn royalties(
    State(ctx): State<Ctx>,
    Query(p): Query<RoyaltyParams>,
) -> JsonResult<Page<RoyaltyPayment>> {
    let list = EventList::Royalties;
    let limit = params::limit(p.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = before(list.scope(), p.cursor.as_deref())?;
    let mut filters = Vec::new();
    if let Some(v) = params::opt_address("recipient", p.recipient.as_deref())? {
        filters.push(Filter::Bytes("x.recipient", v));
    }
    if let Some(v) =
        params::opt_token_id("beneficiary_token_id", p.beneficiary_token_id.as_deref())?
    {
        filters.push(Filter::Numeric("x.beneficiary_token_id", v));
    }
    if let Some(v) = params::opt_token_id("sale_token_id", p.sale_token_id.as_deref())? {
        filters.push(Filter::Numeric("x.sale_token_id", v));
    }
    let rows = queries::events(&ctx.pool, list, ctx.chain_id, filters, cursor, limit).await?;
    page(rows, limit, list.scope())
}

/// Filters of `GET /v1/royalties/totals` (none: the whole chain).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TotalsParams {
    recipient: Option<String>,
    beneficiary_token_id: Option<String>,
    limit: Option<i64>,
}

/// Royalty income of a recipient and/or beneficiary token (or of the whole chain).
#[derive(Debug, Serialize)]
pub(super) struct RoyaltyTotals {
    /// Sum over every matching (beneficiary token, recipient) pair in wei (decimal, exact),
    /// whether or not `items` shows all of them.
    total: String,
    /// Number of payments over every matching pair.
    payments: i64,
    /// Number of matching pairs.
    pairs: i64,
    /// Per (beneficiary token, recipient), largest first, at most `limit`.
    items: Vec<RoyaltyTotal>,
    /// Whether more pairs match than `items` shows.
    items_truncated: bool,
}

/// Most (beneficiary token, recipient) pairs of one answer.
const MAX_TOTALS: i64 = 1000;

pub(super) async fn royalty_totals(
    State(ctx): State<Ctx>,
    Query(p): Query<TotalsParams>,
) -> JsonResult<RoyaltyTotals> {
    let limit = params::limit(p.limit, MAX_TOTALS, MAX_TOTALS)?;
    let mut filters = Vec::new();
    if let Some(v) = params::opt_address("recipient", p.recipient.as_deref())? {
        filters.push(Filter::Bytes("x.recipient", v));
    }
    if let Some(v) =
        params::opt_token_id("beneficiary_token_id", p.beneficiary_token_id.as_deref())?
    {
        filters.push(Filter::Numeric("x.beneficiary_token_id", v));
    }
    // the sums are computed in SQL over every matching pair, not over the listed items
    let (sums, items) = queries::royalty_totals(&ctx.pool, ctx.chain_id, filters, limit).await?;
    let items_truncated = sums.pairs > items.len() as i64;
    Ok(Json(RoyaltyTotals {
        total: sums.total,
        payments: sums.payments,
        pairs: sums.pairs,
        items,
        items_truncated,
    }))
}

/// Filters of `GET /v1/credits` and `GET /v1/withdrawals`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LedgerParams {
    account: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn ledger<T>(ctx: &Ctx, list: EventList, p: LedgerParams) -> JsonResult<Page<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + queries::Keyed + Send + Unpin,
{
    let limit = params::limit(p.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = before(list.scope(), p.cursor.as_deref())?;
    let mut filters = Vec::new();
    if let Some(v) = params::opt_address("account", p.account.as_deref())? {
        filters.push(Filter::Bytes("x.account", v));
    }
    let rows = queries::events(&ctx.pool, list, ctx.chain_id, filters, cursor, limit).await?;
    page(rows, limit, list.scope())
}

pub(super) async fn credits(
    State(ctx): State<Ctx>,
    Query(p): Query<LedgerParams>,
) -> JsonResult<Page<LedgerEntry>> {
    ledger(&ctx, EventList::Credits, p).await
}

pub(super) async fn withdrawals(
    State(ctx): State<Ctx>,
    Query(p): Query<LedgerParams>,
) -> JsonResult<Page<Withdrawal>> {
    ledger(&ctx, EventList::Withdrawals, p).await
}
