//! `/v1/accounts...`: ERC-6551 accounts created for the indexed token contract, and the
//! approvals they granted.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::error::ApiError;
use super::params::{self, DEFAULT_LIMIT, MAX_LIMIT, Path, Query};
use super::queries::{self, APPROVAL_KINDS, Account, AccountApproval, EventList, Filter};
use super::{Ctx, JsonResult, NoParams, Page, before, page};

/// Filters of `GET /v1/accounts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListParams {
    token_id: Option<String>,
    implementation: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

pub(super) async fn list(
    State(ctx): State<Ctx>,
    Query(p): Query<ListParams>,
) -> JsonResult<Page<Account>> {
    let list = EventList::Accounts;
    let limit = params::limit(p.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = before(list.scope(), p.cursor.as_deref())?;
    let mut filters = Vec::new();
    if let Some(v) = params::opt_token_id("token_id", p.token_id.as_deref())? {
        filters.push(Filter::Numeric("x.token_id", v));
    }
    if let Some(v) = params::opt_address("implementation", p.implementation.as_deref())? {
        filters.push(Filter::Bytes("x.implementation", v));
    }
    let rows = queries::events(&ctx.pool, list, ctx.chain_id, filters, cursor, limit).await?;
    page(rows, limit, list.scope())
}

/// The account at an address; if the registry emitted its creation more than once (it may:
/// `createAccount` of an existing account emits again), the earliest record.
pub(super) async fn one(
    State(ctx): State<Ctx>,
    Path(address): Path,
    Query(_): Query<NoParams>,
) -> JsonResult<Account> {
    let a = params::address("address", &address)?;
    match queries::accounts_at(&ctx.pool, ctx.chain_id, &a)
        .await?
        .pop()
    {
        Some(acc) => Ok(Json(acc)),
        None => Err(ApiError::not_found(format!(
            "no ERC-6551 account of our tokens at {}",
            address.to_lowercase()
        ))),
    }
}

/// Filters of `GET /v1/accounts/{address}/approvals`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApprovalParams {
    live: Option<bool>,
    kind: Option<String>,
    token_contract: Option<String>,
    spender: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// The approvals granted by the account, newest first; 404 when the page is empty because the
/// address is no account of our tokens.
pub(super) async fn approvals(
    State(ctx): State<Ctx>,
    Path(address): Path,
    Query(p): Query<ApprovalParams>,
) -> JsonResult<Page<AccountApproval>> {
    let list = EventList::Approvals;
    let owner = params::address("address", &address)?;
    let limit = params::limit(p.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = before(list.scope(), p.cursor.as_deref())?;
    let mut filters = vec![Filter::Bytes("x.owner", owner.clone())];
    if let Some(cond) = params::choice("kind", p.kind.as_deref(), &APPROVAL_KINDS)? {
        filters.push(Filter::Raw(cond));
    }
    if let Some(v) = params::opt_address("token_contract", p.token_contract.as_deref())? {
        filters.push(Filter::Bytes("x.token_contract", v));
    }
    if let Some(v) = params::opt_address("spender", p.spender.as_deref())? {
        filters.push(Filter::Bytes("x.spender", v));
    }
    if let Some(live) = p.live {
        filters.push(queries::approvals_live(live));
    }
    let rows = queries::events(&ctx.pool, list, ctx.chain_id, filters, cursor, limit).await?;
    if rows.is_empty()
        && queries::accounts_at(&ctx.pool, ctx.chain_id, &owner)
            .await?
            .is_empty()
    {
        return Err(ApiError::not_found(format!(
            "no ERC-6551 account of our tokens at {}",
            address.to_lowercase()
        )));
    }
    page(rows, limit, list.scope())
}
