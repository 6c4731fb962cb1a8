//! Approvals granted by a token-bound account: what could still move the account's assets after a
//! sale. The indexer lists the approval events whose owner is the account (`GET
//! /v1/accounts/{address}/approvals?live=true`); each is then re-checked on chain, because an
//! ERC-20 `transferFrom` lowers an allowance and an ERC-721 transfer clears an approval without
//! an event: only what the chain still grants is reported.

use std::{
    fmt,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
};
use anyhow::{Context, Result, anyhow};
use serde_json::Value;

use super::chain::{Chain, api_get};

alloy::sol! {
    /// The approval views of ERC-20, ERC-721 and ERC-1155 tokens.
    #[sol(rpc)]
    interface IApprovalViews {
        function allowance(address owner, address spender) external view returns (uint256);
        function getApproved(uint256 tokenId) external view returns (address);
        function ownerOf(uint256 tokenId) external view returns (address);
        function isApprovedForAll(address owner, address operator) external view returns (bool);
    }
}

/// What an approval lets its holder take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// An ERC-20 allowance of this many base units.
    Erc20(U256),
    /// One ERC-721 token.
    Erc721(U256),
    /// Every token of the contract (ERC-721 / ERC-1155 `setApprovalForAll`).
    Operator,
}

/// An approval that the chain still grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveApproval {
    /// The token contract.
    pub token: Address,
    /// Who may move the assets.
    pub spender: Address,
    /// What it may move.
    pub grant: Grant,
}

impl fmt::Display for LiveApproval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spender = self.spender.to_checksum(None);
        let token = self.token.to_checksum(None);
        match &self.grant {
            Grant::Erc20(v) => write!(f, "{spender} may spend {v} units of the ERC-20 {token}"),
            Grant::Erc721(id) => write!(f, "{spender} may take token {id} of {token}"),
            Grant::Operator => write!(f, "{spender} may take every token of {token}"),
        }
    }
}

/// How long `live` waits for the indexer to reach the chain's head.
const CATCH_UP: Duration = Duration::from_secs(15);

/// The approvals of `account` that the indexer reports live and the chain confirms. The indexer
/// must have indexed the chain's current head first: an approval in a block it has not seen would
/// be missed.
pub async fn live(chain: &Chain, api: &str, account: Address) -> Result<Vec<LiveApproval>> {
    wait_for_head(chain, api).await?;
    let path = format!("/v1/accounts/{account}/approvals?live=true");
    let body = api_get(api, &path)
        .await?
        .ok_or_else(|| anyhow!("the indexer API does not know the account {account}"))?;
    let items = body
        .get("items")
        .or_else(|| body.get("approvals"))
        .and_then(Value::as_array)
        .context("the indexer API's approvals answer has no list")?;
    let mut out = Vec::new();
    for item in items {
        let candidate = parse(item)?;
        if let Some(a) = confirm(chain, account, candidate).await? {
            out.push(a);
        }
    }
    Ok(out)
}

/// Waits until the API's `indexed_block` reaches the chain head seen now.
async fn wait_for_head(chain: &Chain, api: &str) -> Result<()> {
    let head = chain
        .provider
        .get_block_number()
        .await
        .map_err(|e| anyhow!("cannot read the chain's head: {e}"))?;
    let start = Instant::now();
    loop {
        let status = api_get(api, "/v1/status")
            .await?
            .context("the indexer API has not indexed this chain yet")?;
        let indexed = status
            .get("indexed_block")
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .context("the indexer API's /v1/status has no indexed_block")?;
        if indexed >= head {
            return Ok(());
        }
        if start.elapsed() > CATCH_UP {
            anyhow::bail!(
                "the indexer API is at block {indexed}, {} behind the chain's head {head}: it may not list the newest approvals",
                head - indexed
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One approval row of the API, before the on-chain check.
fn parse(item: &Value) -> Result<LiveApproval> {
    let field = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| item.get(*n).and_then(Value::as_str))
            .with_context(|| format!("an approval in the API's answer lacks `{}`", names[0]))
    };
    let address = |names: &[&str]| -> Result<Address> {
        let s = field(names)?;
        s.parse()
            .map_err(|e| anyhow!("the API's approval has a bad address `{s}`: {e}"))
    };
    let number = |names: &[&str]| -> Result<U256> {
        let s = field(names)?;
        s.parse()
            .map_err(|e| anyhow!("the API's approval has a bad number `{s}`: {e}"))
    };
    let token = address(&["token_contract", "tokenContract", "contract"])?;
    let spender = address(&["spender", "operator", "approved"])?;
    let grant = match field(&["kind"])? {
        "erc20" => Grant::Erc20(number(&["value", "amount"])?),
        "erc721" => Grant::Erc721(number(&["token_id", "tokenId"])?),
        "operator" => Grant::Operator,
        other => anyhow::bail!("the API reports an approval of unknown kind `{other}`"),
    };
    Ok(LiveApproval {
        token,
        spender,
        grant,
    })
}

/// Re-reads `a` on chain: the current allowance, approved address or operator flag.
async fn confirm(chain: &Chain, account: Address, a: LiveApproval) -> Result<Option<LiveApproval>> {
    let t = IApprovalViews::new(a.token, chain.provider.clone());
    let read = |what: &str, e: alloy::contract::Error| {
        anyhow!(
            "cannot read {what} of {} for the account {account}: {e}",
            a.token
        )
    };
    let live = match &a.grant {
        Grant::Erc20(_) => {
            let left = t
                .allowance(account, a.spender)
                .call()
                .await
                .map_err(|e| read("the allowance", e))?;
            return Ok((!left.is_zero()).then_some(LiveApproval {
                grant: Grant::Erc20(left),
                ..a
            }));
        }
        Grant::Erc721(id) => {
            // A token that left the account took its approval with it.
            let owner = t.ownerOf(*id).call().await.ok();
            let approved = t.getApproved(*id).call().await.ok();
            owner == Some(account) && approved == Some(a.spender)
        }
        Grant::Operator => t
            .isApprovedForAll(account, a.spender)
            .call()
            .await
            .map_err(|e| read("the operator approval", e))?,
    };
    Ok(live.then_some(a))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn api_rows_parse_by_kind() {
        let erc20 = parse(
            &json!({"kind": "erc20", "token_contract": "0x0000000000000000000000000000000000000001",
            "spender": "0x0000000000000000000000000000000000000002", "value": "100"}),
        )
        .unwrap();
        assert_eq!(erc20.grant, Grant::Erc20(U256::from(100)));
        let op = parse(&json!({"kind": "operator", "token_contract": "0x0000000000000000000000000000000000000001",
            "operator": "0x0000000000000000000000000000000000000003"}))
        .unwrap();
        assert_eq!(op.grant, Grant::Operator);
        assert!(op.to_string().contains("may take every token"));
        let bad = parse(
            &json!({"kind": "erc777", "token_contract": "0x0000000000000000000000000000000000000001",
            "spender": "0x0000000000000000000000000000000000000002"}),
        );
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("unknown kind `erc777`")
        );
    }
}
