//! `memory verify TOKEN --matrix W [--test T]`: checks a token against its artifact and the
//! chain against the indexer, item by item, and exits non-zero on any mismatch.
//!
//! Items: the artifact's content checksum and metadata against the token; every anchored
//! certificate (digest recomputed under the chain's EIP-712 domain, signature recovered from
//! the anchoring transaction, certifier role, not revoked, not expired, checksum, and with
//! `--test` the recomputed metrics); the provenance (parents exist and are older); the royalty
//! table (recomputed from the parents' tables with the contract's rule); the indexer's view
//! (owner, creator, checksum, parents, certificates) once it has caught up with the chain.

use std::{collections::BTreeSet, path::PathBuf, time::Duration};

use alloy::{
    consensus::Transaction as _,
    eips::BlockNumberOrTag,
    primitives::{Address, B256, U256},
    providers::Provider,
    sol_types::{SolCall, SolStruct},
};
use anyhow::{Context, Result, anyhow, bail};
use memory_bindings::{IMemoryNFT, MemoryNFT};
use memory_protocol::{
    Artifact, Recomputed, TestSet, WMatrix,
    artifact::meta,
    certificate::{compare, domain},
    checksum::content_checksum_file_with_header,
    evaluate,
};
use serde::Serialize;
use serde_json::{Value, json};

use super::{
    anchor::from_binding,
    chain::{ApiArgs, Chain, ChainArgs, api_get, block_on},
    show::{Anchored, certificates},
};
use crate::output::Output;

/// Arguments of `memory verify`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The token.
    #[arg(value_parser = crate::cmd::chain::parse_token)]
    pub token: U256,
    /// The W-Matrix (artifact) file the token stands for.
    #[arg(long, value_name = "FILE")]
    pub matrix: PathBuf,
    /// Test set to recompute the certified metrics on.
    #[arg(long, value_name = "FILE")]
    pub test: Option<PathBuf>,
    /// Do not compare with the indexer API.
    #[arg(long)]
    pub no_indexer: bool,
    /// Seconds to wait for the indexer to reach the chain's head.
    #[arg(long, default_value_t = 30)]
    pub indexer_wait: u64,
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub chain: ChainArgs,
}

/// One verified item.
#[derive(Debug, Serialize)]
pub struct Item {
    /// What was checked.
    pub item: String,
    /// `match`, `mismatch` or `skipped`.
    pub result: &'static str,
    /// Details.
    pub detail: String,
}

impl Item {
    fn new(item: impl Into<String>, ok: bool, detail: impl Into<String>) -> Self {
        Self {
            item: item.into(),
            result: if ok { "match" } else { "mismatch" },
            detail: detail.into(),
        }
    }

    fn skipped(item: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            item: item.into(),
            result: "skipped",
            detail: detail.into(),
        }
    }
}

/// The royalty table the contract must have stored for a token with `parents`, given each
/// parent's table: each parent at 100 bps, each entry of a parent's table at half its share
/// (zero dropped), an ancestor reached several ways at its largest share, ordered by share
/// descending then id ascending, at most 16 entries (`RoyaltyTable.sol`).
pub fn expected_table(parents: &[(U256, Vec<(U256, u16)>)]) -> Vec<(U256, u16)> {
    const MAX_ENTRIES: usize = 16;
    const PARENT_SHARE_BPS: u16 = 100;
    let mut t: Vec<(U256, u16)> = Vec::new();
    let offer = |t: &mut Vec<(U256, u16)>, id: U256, share: u16| {
        if let Some(i) = t.iter().position(|(x, _)| *x == id) {
            if t[i].1 >= share {
                return;
            }
            t.remove(i);
        }
        let pos = t
            .iter()
            .position(|(x, s)| share > *s || (share == *s && id < *x))
            .unwrap_or(t.len());
        if pos == MAX_ENTRIES {
            return;
        }
        t.insert(pos, (id, share));
        t.truncate(MAX_ENTRIES);
    };
    for (p, _) in parents {
        offer(&mut t, *p, PARENT_SHARE_BPS);
    }
    for (_, table) in parents {
        for (id, share) in table {
            let inherited = share / 2;
            if inherited == 0 {
                break;
            }
            offer(&mut t, *id, inherited);
        }
    }
    t
}

/// Runs the command; any mismatch is an error.
pub fn run(args: Args, out: Output) -> Result<()> {
    // Each file is read once, so the checksum compared with the token is that of the very
    // bytes that are evaluated (a file replaced between two reads cannot split them).
    let cannot_read = || format!("cannot read the artifact {}", args.matrix.display());
    let (metadata, local, recomputed) = match &args.test {
        Some(t) => {
            let spinner = out.stage("recomputing the metrics");
            let (artifact, local) =
                Artifact::open_with_checksum(&args.matrix).with_context(cannot_read)?;
            let matrix = WMatrix::from_artifact(&artifact)
                .with_context(|| format!("{} is not a W-Matrix", args.matrix.display()))?;
            let (test, test_set_checksum) = TestSet::load_with_checksum(t)
                .with_context(|| format!("cannot load the test set {}", t.display()))?;
            let metrics = evaluate(&matrix, &test)
                .with_context(|| format!("cannot evaluate on the test set {}", t.display()))?;
            spinner.finish_and_clear();
            let recomputed = Recomputed {
                checksum: local,
                test_set_checksum,
                metrics,
            };
            (artifact.metadata, local, Some(recomputed))
        }
        None => {
            let (header, local) =
                content_checksum_file_with_header(&args.matrix).with_context(cannot_read)?;
            (header.metadata, local, None)
        }
    };
    let items = block_on(async {
        let chain = args.chain.connect_read().await?;
        let info = chain.require_token(args.token).await?;
        let mut items = Vec::new();

        items.push(Item::new(
            "checksum",
            info.checksum == local,
            if info.checksum == local {
                format!("{local}")
            } else {
                format!("artifact {local}, token {}", info.checksum)
            },
        ));
        let mut meta_diffs = Vec::new();
        for (key, on_chain) in [
            (meta::SOURCE_MODEL, &info.sourceModel),
            (meta::TARGET_MODEL, &info.targetModel),
            (meta::VERSION, &info.version),
        ] {
            if let Some(v) = metadata.get(key)
                && v != on_chain
            {
                meta_diffs.push(format!("{key}: artifact {v:?}, token {on_chain:?}"));
            }
        }
        items.push(Item::new(
            "metadata",
            meta_diffs.is_empty(),
            if meta_diffs.is_empty() {
                format!(
                    "{} -> {} v{}",
                    info.sourceModel, info.targetModel, info.version
                )
            } else {
                meta_diffs.join("; ")
            },
        ));

        let certs = certificates(&chain, args.token).await?;
        if certs.is_empty() {
            let detail = match &recomputed {
                Some(r) => format!(
                    "none anchored (recomputed epsilon {} ppm)",
                    r.ppm().epsilon_ppm
                ),
                None => "none anchored".to_owned(),
            };
            items.push(Item::skipped("certificate", detail));
        }
        let now = chain
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(|e| anyhow!("cannot read the latest block: {e}"))?
            .map(|b| b.header.timestamp)
            .unwrap_or_default();
        for c in &certs {
            items.push(check_certificate(&chain, c, local, recomputed.as_ref(), now).await?);
        }

        // provenance and royalty table
        let mut parent_tables = Vec::new();
        let mut bad_parents = Vec::new();
        let nft = chain.nft();
        for p in &info.parents {
            if *p >= args.token || p.is_zero() {
                bad_parents.push(format!("{p} is not older than {}", args.token));
            }
            match nft.royaltyTable(*p).call().await {
                Ok(t) => parent_tables.push((*p, t.tokenIds.into_iter().zip(t.bps).collect())),
                Err(e) => bad_parents.push(format!("{p}: {}", chain.explain("parent", e).await)),
            }
        }
        let parents: Vec<String> = info.parents.iter().map(ToString::to_string).collect();
        items.push(Item::new(
            "provenance",
            bad_parents.is_empty(),
            if bad_parents.is_empty() {
                if parents.is_empty() {
                    "original (no parents)".to_owned()
                } else {
                    format!("parents {}", parents.join(", "))
                }
            } else {
                bad_parents.join("; ")
            },
        ));
        let table = match nft.royaltyTable(args.token).call().await {
            Ok(t) => t,
            Err(e) => return Err(chain.explain("royaltyTable", e).await),
        };
        let on_chain: Vec<(U256, u16)> = table.tokenIds.into_iter().zip(table.bps).collect();
        let expected = expected_table(&parent_tables);
        let fmt = |t: &[(U256, u16)]| {
            if t.is_empty() {
                "empty".to_owned()
            } else {
                t.iter()
                    .map(|(id, b)| format!("{id}:{b}bps"))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        };
        items.push(Item::new(
            "royalty table",
            on_chain == expected,
            if on_chain == expected {
                fmt(&on_chain)
            } else {
                format!("on chain {}, expected {}", fmt(&on_chain), fmt(&expected))
            },
        ));

        if args.no_indexer {
            items.push(Item::skipped("indexer", "--no-indexer"));
        } else {
            items.push(check_indexer(&chain, &args, &info, &certs).await);
        }
        Ok::<_, anyhow::Error>(items)
    })??;

    let bad: Vec<&str> = items
        .iter()
        .filter(|i| i.result == "mismatch")
        .map(|i| i.item.as_str())
        .collect();
    if out.json {
        out.json(&json!({
            "tokenId": args.token.to_string(),
            "match": bad.is_empty(),
            "items": items,
        }));
    } else {
        for i in &items {
            let result = match i.result {
                "match" => "match",
                "mismatch" => "MISMATCH",
                other => other,
            };
            println!("{:<22} {:<9} {}", i.item, result, i.detail);
        }
    }
    if !bad.is_empty() {
        bail!(
            "token {} does not verify: mismatch in {}",
            args.token,
            bad.join(", ")
        );
    }
    if !out.json {
        println!("token {} verifies: every item matches", args.token);
    }
    Ok(())
}

async fn check_certificate(
    chain: &Chain,
    c: &Anchored,
    local: B256,
    recomputed: Option<&Recomputed>,
    now: u64,
) -> Result<Item> {
    let name = format!("certificate {}", short(c.digest));
    let cert = from_binding(&c.cert);
    let mut problems = Vec::new();
    let digest = cert.eip712_signing_hash(&domain(chain.chain_id, chain.nft));
    if digest != c.digest {
        problems.push(format!("digest recomputes to {digest}"));
    }
    if cert.checksum != local {
        problems.push(format!("certifies checksum {}", cert.checksum));
    }
    if c.revoked {
        problems.push("revoked".to_owned());
    }
    if cert.expiresAt < now {
        problems.push(format!("expired at {}", cert.expiresAt));
    }
    match chain.nft().isCertifier(c.certifier).call().await {
        Ok(true) => {}
        Ok(false) => problems.push(format!("{} is no longer a certifier", c.certifier)),
        Err(e) => problems.push(format!("isCertifier: {e}")),
    }
    let signature = match signer_from_tx(chain, c).await {
        Ok(Some(signer)) if signer == c.certifier => "signature ok".to_owned(),
        Ok(Some(signer)) => {
            problems.push(format!(
                "signature recovers to {signer}, not {}",
                c.certifier
            ));
            String::new()
        }
        Ok(None) => "signature checked by the contract (contract signer)".to_owned(),
        Err(e) => {
            problems.push(format!("{e:#}"));
            String::new()
        }
    };
    if let Some(re) = recomputed {
        for f in compare(&cert, re).into_iter().filter(|f| !f.ok) {
            problems.push(format!(
                "{} certified {} recomputed {}",
                f.field, f.certified, f.recomputed
            ));
        }
    }
    Ok(if problems.is_empty() {
        Item::new(
            name,
            true,
            format!(
                "level {}, epsilon {} ppm{}, certifier {}, {signature}",
                cert.level,
                cert.epsilonPpm,
                if recomputed.is_some() {
                    " (recomputed)"
                } else {
                    ""
                },
                c.certifier.to_checksum(None)
            ),
        )
    } else {
        Item::new(name, false, problems.join("; "))
    })
}

/// Recovers the certifier's signature from the anchoring transaction's calldata. `None` when
/// the certificate was anchored through a contract or for an ERC-1271 certifier.
async fn signer_from_tx(chain: &Chain, c: &Anchored) -> Result<Option<Address>> {
    let Some(hash) = c.tx_hash else {
        return Ok(None);
    };
    let tx = chain
        .provider
        .get_transaction_by_hash(hash)
        .await
        .map_err(|e| anyhow!("cannot read the anchoring transaction {hash}: {e}"))?
        .with_context(|| format!("the anchoring transaction {hash} is not on the chain"))?;
    let input = tx.input();
    let Ok(call) = MemoryNFT::anchorCertificateCall::abi_decode(input) else {
        return Ok(None);
    };
    let certifier = call.cert.certifier;
    let code = chain
        .provider
        .get_code_at(certifier)
        .await
        .map_err(|e| anyhow!("cannot read the code at {certifier}: {e}"))?;
    if !code.is_empty() {
        return Ok(None); // an ERC-1271 certifier: the contract accepted it, nothing to recover
    }
    let signature = call.signature;
    // The contract's rules (OpenZeppelin ECDSA: 65 bytes, low s, v 27/28), not a lenient parse.
    let signer = memory_protocol::certificate::recover_signer(&c.digest, signature.as_ref())
        .map_err(|e| anyhow!("the anchored signature does not recover: {e}"))?;
    Ok(Some(signer))
}

async fn check_indexer(
    chain: &Chain,
    args: &Args,
    info: &IMemoryNFT::MemoryInfo,
    certs: &[Anchored],
) -> Item {
    match indexer_diffs(chain, args, info, certs).await {
        Ok(Ok(detail)) => Item::new("indexer", true, detail),
        Ok(Err(diffs)) => Item::new("indexer", false, diffs.join("; ")),
        Err(e) => Item::new("indexer", false, format!("{e:#}")),
    }
}

/// `Ok(Ok(detail))` when the indexer agrees, `Ok(Err(differences))` when not.
async fn indexer_diffs(
    chain: &Chain,
    args: &Args,
    info: &IMemoryNFT::MemoryInfo,
    certs: &[Anchored],
) -> Result<Result<String, Vec<String>>> {
    let api = &args.api.api_url;
    let head = chain
        .provider
        .get_block_number()
        .await
        .map_err(|e| anyhow!("cannot read the head: {e}"))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(args.indexer_wait);
    loop {
        let status = api_get(api, "/v1/status")
            .await?
            .context("the indexer API has no /v1/status")?;
        let indexed = status["indexed_block"].as_u64().unwrap_or(0);
        if indexed >= head {
            break;
        }
        if std::time::Instant::now() >= deadline {
            return Ok(Err(vec![format!(
                "the indexer is at block {indexed}, the chain at {head} (waited {} s)",
                args.indexer_wait
            )]));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let token = args.token;
    let Some(detail) = api_get(api, &format!("/v1/memories/{token}")).await? else {
        return Ok(Err(vec![format!(
            "the indexer does not know token {token}"
        )]));
    };
    let m = &detail["memory"];
    let owner = chain
        .nft()
        .ownerOf(token)
        .call()
        .await
        .map_err(|e| anyhow!("ownerOf: {e}"))?;
    let mut diffs = Vec::new();
    let mut same_addr = |field: &str, chain_value: Address| {
        let api_value = m[field].as_str().unwrap_or_default();
        if !api_value.eq_ignore_ascii_case(&chain_value.to_string()) {
            diffs.push(format!("{field}: indexer {api_value}, chain {chain_value}"));
        }
    };
    same_addr("owner", owner);
    same_addr("creator", info.creator);
    let api_checksum = m["checksum"].as_str().unwrap_or_default();
    if !api_checksum.eq_ignore_ascii_case(&info.checksum.to_string()) {
        diffs.push(format!(
            "checksum: indexer {api_checksum}, chain {}",
            info.checksum
        ));
    }
    let api_parents: BTreeSet<String> = m["parents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let chain_parents: BTreeSet<String> = info.parents.iter().map(ToString::to_string).collect();
    if api_parents != chain_parents {
        diffs.push(format!(
            "parents: indexer {api_parents:?}, chain {chain_parents:?}"
        ));
    }
    let listed = api_get(api, &format!("/v1/memories/{token}/certificates?limit=100"))
        .await?
        .unwrap_or(Value::Null);
    let mut api_certs = BTreeSet::new();
    let mut api_revoked = BTreeSet::new();
    for c in listed["items"].as_array().into_iter().flatten() {
        let d = c["digest"].as_str().unwrap_or_default().to_lowercase();
        if c["status"] == "revoked" {
            api_revoked.insert(d.clone());
        }
        api_certs.insert(d);
    }
    let chain_certs: BTreeSet<String> = certs.iter().map(|c| c.digest.to_string()).collect();
    let chain_revoked: BTreeSet<String> = certs
        .iter()
        .filter(|c| c.revoked)
        .map(|c| c.digest.to_string())
        .collect();
    if api_certs != chain_certs {
        diffs.push(format!(
            "certificates: indexer {api_certs:?}, chain {chain_certs:?}"
        ));
    }
    if api_revoked != chain_revoked {
        diffs.push(format!(
            "revoked certificates: indexer {api_revoked:?}, chain {chain_revoked:?}"
        ));
    }
    if diffs.is_empty() {
        Ok(Ok(format!(
            "owner, creator, checksum, {} parents, {} certificates agree at block {head}",
            chain_parents.len(),
            chain_certs.len()
        )))
    } else {
        Ok(Err(diffs))
    }
}

fn short(d: B256) -> String {
    let s = d.to_string();
    format!("{}…", &s[..10])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(n: u64) -> U256 {
        U256::from(n)
    }

    #[test]
    fn royalty_table_rule() {
        // originals 1 and 2; 3 derived from both; 4 derived from 3 and 1 (diamond)
        assert!(expected_table(&[]).is_empty());
        let t3 = expected_table(&[(u(1), vec![]), (u(2), vec![])]);
        assert_eq!(t3, vec![(u(1), 100), (u(2), 100)]);
        let t4 = expected_table(&[(u(1), vec![]), (u(3), t3.clone())]);
        // 1 is a parent (100) and an inherited ancestor (50): kept once at 100
        assert_eq!(t4, vec![(u(1), 100), (u(3), 100), (u(2), 50)]);
        // shares of 1 bps vanish when halved
        let t5 = expected_table(&[(u(4), vec![(u(9), 1)])]);
        assert_eq!(t5, vec![(u(4), 100)]);
    }

    #[test]
    fn royalty_table_is_bounded() {
        let parents: Vec<(U256, Vec<(U256, u16)>)> = (1..=8)
            .map(|p| (u(p), (100..110).map(|a| (u(a * 10 + p), 100)).collect()))
            .collect();
        let t = expected_table(&parents);
        assert_eq!(t.len(), 16);
        assert!(t[..8].iter().all(|(_, s)| *s == 100));
        assert!(t[8..].iter().all(|(_, s)| *s == 50));
    }
}
