//! `memory show TOKEN`: a memory as the indexer API sees it, falling back to reading the chain
//! when the API cannot be reached or has not indexed the token yet.

use alloy::primitives::{B256, U256, utils::format_ether};
use anyhow::{Result, anyhow};
use memory_bindings::{IMemoryNFT, MemoryNFT};
use serde_json::{Value, json};

use super::{
    account,
    chain::{ApiArgs, Chain, ChainArgs, api_get, block_on, token_topic},
};
use crate::output::Output;

/// Arguments of `memory show`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The token.
    #[arg(value_parser = crate::cmd::chain::parse_token)]
    pub token: U256,
    /// Read the chain even when the indexer API answers.
    #[arg(long)]
    pub chain_only: bool,
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub chain: ChainArgs,
}

/// A certificate anchored to a token, as read from the chain.
pub struct Anchored {
    /// EIP-712 digest.
    pub digest: B256,
    /// Who signed it.
    pub certifier: alloy::primitives::Address,
    /// The certificate.
    pub cert: IMemoryNFT::Certificate,
    /// Revoked since.
    pub revoked: bool,
    /// The anchoring transaction.
    pub tx_hash: Option<B256>,
}

/// Every certificate anchored to `token` (CertificateAnchored logs), with its current state.
pub async fn certificates(chain: &Chain, token: U256) -> Result<Vec<Anchored>> {
    let logs = chain
        .logs::<MemoryNFT::CertificateAnchored>(chain.nft, token_topic(token))
        .await?;
    let nft = chain.nft();
    let mut out = Vec::new();
    for log in logs {
        let tx_hash = log.transaction_hash;
        let ev = log
            .log_decode::<MemoryNFT::CertificateAnchored>()
            .map_err(|e| anyhow!("cannot decode a CertificateAnchored log: {e}"))?
            .inner
            .data;
        let state = match nft.certificateOf(ev.digest).call().await {
            Ok(s) => s,
            Err(e) => return Err(chain.explain("certificateOf", e).await),
        };
        out.push(Anchored {
            digest: ev.digest,
            certifier: ev.certifier,
            cert: ev.cert,
            revoked: state.revoked,
            tx_hash,
        });
    }
    Ok(out)
}

/// The token as the chain sees it, in the indexer API's field names.
pub async fn chain_view(chain: &Chain, token: U256) -> Result<Value> {
    let info = chain.require_token(token).await?;
    let nft = chain.nft();
    let owner = match nft.ownerOf(token).call().await {
        Ok(o) => o,
        Err(e) => return Err(chain.explain("ownerOf", e).await),
    };
    let acct = account::state(chain, token).await?;
    let listing = match chain.market().listingOf(token).call().await {
        Ok(l) => l,
        Err(e) => return Err(chain.explain("listingOf", e).await),
    };
    let table = match nft.royaltyTable(token).call().await {
        Ok(t) => t,
        Err(e) => return Err(chain.explain("royaltyTable", e).await),
    };
    let certs = certificates(chain, token).await?;
    let kind = match info.kind {
        0 => "w_matrix",
        1 => "kv_cache",
        _ => "other",
    };
    Ok(json!({
        "memory": {
            "token_id": token.to_string(),
            "creator": info.creator.to_checksum(None),
            "owner": owner.to_checksum(None),
            "account": acct.deployed.then(|| acct.address.to_checksum(None)),
            "checksum": info.checksum.to_string(),
            "kind": kind,
            "source_model": info.sourceModel,
            "target_model": info.targetModel,
            "version": info.version,
            "uri": info.uri,
            "royalty_bps": info.royaltyBps.to::<u64>(),
            "parents": info.parents.iter().map(ToString::to_string).collect::<Vec<_>>(),
        },
        "account": {
            "address": acct.address.to_checksum(None),
            "created": acct.deployed,
            "balance_wei": acct.balance.to_string(),
        },
        "royalty_table": table.tokenIds.iter().zip(table.bps.iter()).map(|(id, bps)| json!({
            "token_id": id.to_string(), "bps": bps,
        })).collect::<Vec<_>>(),
        "certificates": certs.iter().map(|c| json!({
            "digest": c.digest.to_string(),
            "certifier": c.certifier.to_checksum(None),
            "epsilon_ppm": c.cert.epsilonPpm,
            "level": c.cert.level,
            "expires_at": c.cert.expiresAt,
            "revoked": c.revoked,
        })).collect::<Vec<_>>(),
        "listing": (!listing.listingId.is_zero()).then(|| json!({
            "listing_id": listing.listingId.to_string(),
            "seller": listing.seller.to_checksum(None),
            "price": listing.price.to_string(),
            "expires_at": listing.expiresAt,
            "transfer_count": listing.transferCount,
            "live": listing.live,
        })),
    }))
}

/// Runs the command.
pub fn run(args: Args, out: Output) -> Result<()> {
    block_on(async move {
        let mut source = "indexer";
        let mut note = None;
        let mut view = None;
        if !args.chain_only {
            match api_get(&args.api.api_url, &format!("/v1/memories/{}", args.token)).await {
                Ok(Some(v)) => view = Some(v),
                Ok(None) => note = Some("the indexer has not indexed this token".to_owned()),
                Err(e) => note = Some(format!("{e:#}")),
            }
        }
        let view = match view {
            Some(v) => v,
            None => {
                source = "chain";
                let chain = args.chain.connect_read().await?;
                chain_view(&chain, args.token).await?
            }
        };
        if out.json {
            out.json(&json!({ "source": source, "note": note, "view": view }));
            return Ok(());
        }
        if let Some(n) = &note {
            println!("(from the chain: {n})");
        }
        print_human(&view, source);
        Ok(())
    })?
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn print_human(view: &Value, source: &str) {
    let m = &view["memory"];
    println!("token     {} (source: {source})", s(&m["token_id"]));
    println!("owner     {}", s(&m["owner"]));
    println!("creator   {}", s(&m["creator"]));
    println!("checksum  {}", s(&m["checksum"]));
    println!(
        "memory    {} {} -> {} v{}",
        s(&m["kind"]),
        s(&m["source_model"]),
        s(&m["target_model"]),
        s(&m["version"])
    );
    println!("royalty   {} bps", s(&m["royalty_bps"]));
    let parents: Vec<String> = m["parents"]
        .as_array()
        .map(|a| a.iter().map(s).collect())
        .unwrap_or_default();
    println!(
        "parents   {}",
        if parents.is_empty() {
            "-".into()
        } else {
            parents.join(", ")
        }
    );
    println!("account   {}", s(&m["account"]));
    if let Some(t) = m.get("tier") {
        println!("tier      {}", s(t));
    }
    if let Some(c) = view.get("certificate").filter(|c| !c.is_null()) {
        println!(
            "certificate {} epsilon {} ppm level {} ({})",
            s(&c["digest"]),
            s(&c["epsilon_ppm"]),
            s(&c["level"]),
            s(&c["status"])
        );
    }
    if let Some(certs) = view.get("certificates").and_then(Value::as_array) {
        for c in certs {
            println!(
                "certificate {} epsilon {} ppm level {}{}",
                s(&c["digest"]),
                s(&c["epsilon_ppm"]),
                s(&c["level"]),
                if c["revoked"] == Value::Bool(true) {
                    " (revoked)"
                } else {
                    ""
                }
            );
        }
    }
    if let Some(a) = view
        .get("account")
        .filter(|a| a.get("balance_wei").is_some())
    {
        let wei: U256 = s(&a["balance_wei"]).parse().unwrap_or_default();
        println!(
            "account balance {} ETH at {}",
            format_ether(wei),
            s(&a["address"])
        );
    }
    if let Some(l) = view.get("listing").filter(|l| !l.is_null()) {
        let wei: U256 = s(&l["price"]).parse().unwrap_or_default();
        let live = if l["live"] == Value::Bool(false) {
            " (not live: expired, or the token moved)"
        } else {
            ""
        };
        println!(
            "listed    listing {} by {} for {} ETH until {}{live}",
            s(&l["listing_id"]),
            s(&l["seller"]),
            format_ether(wei),
            s(&l["expires_at"])
        );
    }
    let approvals = view
        .get("account_approvals")
        .or_else(|| view.get("account").and_then(|a| a.get("approvals")))
        .and_then(Value::as_array);
    for a in approvals.into_iter().flatten() {
        println!(
            "WARNING   the account granted {} approval to {} on {}{}: it can move the account's assets",
            s(&a["kind"]),
            s(a.get("spender")
                .or_else(|| a.get("operator"))
                .unwrap_or(&Value::Null)),
            s(&a["token_contract"]),
            a.get("value")
                .map(|v| format!(" (value {})", s(v)))
                .unwrap_or_default()
        );
    }
}
