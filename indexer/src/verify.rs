//! `verify`: compares the database with the chain at the indexed block — every token's owner,
//! ERC-6551 account, transfer count and open listing (id, seller, price, expiry, transfer count,
//! account state and whether it is live), every certificate's token, certifier, creator,
//! expiry and revocation, the token count and the checkpoint hash.

use std::collections::HashMap;
use std::fmt;

use alloy::eips::BlockId;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use sqlx::{PgPool, Row};
use tracing::info;

use crate::bindings::{MemoryMarket, MemoryNFT};
use crate::db;
use crate::error::{Error, Result};
use crate::rpc::Chain;

/// Tokens checked concurrently.
const CONCURRENCY: usize = 32;

/// One difference between the database and the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// What differs, e.g. `owner of token 3`.
    pub what: String,
    /// The database's value.
    pub db: String,
    /// The chain's value.
    pub chain: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: database {} != chain {}",
            self.what, self.db, self.chain
        )
    }
}

/// The result of a verification.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Block the comparison was made at (the checkpoint).
    pub block: u64,
    /// Tokens compared.
    pub tokens: usize,
    /// Certificates compared.
    pub certificates: usize,
    /// Every difference found.
    pub mismatches: Vec<Mismatch>,
}

/// An open listing as compared: (listing id, seller, price, expiry, transfer count, account
/// state, live).
type ListingTerms = (U256, Address, U256, u64, u64, U256, bool);

struct DbToken {
    id: U256,
    owner: Address,
    account: Option<Address>,
    transfer_count: u64,
    listing: Option<ListingTerms>,
}

fn u256(s: &str) -> Result<U256> {
    U256::from_str_radix(s, 10).map_err(|e| Error::Pipeline(format!("number {s}: {e}")))
}

fn addr(b: &[u8]) -> Result<Address> {
    Address::try_from(b).map_err(|_| Error::Pipeline("bad stored address".into()))
}

fn rpc(e: impl fmt::Display) -> Error {
    Error::Rpc(e.to_string())
}

/// Compares the database of `chain_id` with the chain at the checkpoint block.
pub async fn verify(pool: &PgPool, chain: &Chain, chain_id: u64) -> Result<Report> {
    let cp = db::checkpoint(pool, chain_id).await?;
    let Ok(block) = u64::try_from(cp.block) else {
        return Ok(Report::default());
    };
    let mut report = Report {
        block,
        ..Report::default()
    };
    let at = BlockId::number(block);
    let canonical = chain.header(block).await?.map(|h| h.hash);
    if canonical != cp.hash {
        report.mismatches.push(Mismatch {
            what: format!("hash of indexed block {block}"),
            db: format!("{:?}", cp.hash),
            chain: format!("{canonical:?}"),
        });
        return Ok(report);
    }
    let cid = i64::try_from(chain_id).unwrap_or(i64::MAX);
    let c = *chain.contracts();
    let provider = chain.provider().clone();
    let nft = MemoryNFT::new(c.nft, provider.clone());
    let market = MemoryMarket::new(c.market, provider.clone());

    // `live` as the API computes it: the contract's `isListingLive` at the checkpoint block; the
    // seller as `listingOf` shows it: zero once the token moved (the listing is stale)
    let rows = sqlx::query(
        "SELECT m.token_id::text, m.owner, m.account, m.transfer_count,
                CASE WHEN l.transfer_count = m.transfer_count THEN l.seller ELSE $2 END, l.price::text,
                l.account_state::text, l.listing_id::text, l.expires_at::text, l.transfer_count,
                l.expires_at >= s.indexed_timestamp AND l.transfer_count = m.transfer_count
         FROM memories m
         JOIN chain_state s ON s.chain_id = m.chain_id
         LEFT JOIN listings l
           ON l.chain_id = m.chain_id AND l.token_id = m.token_id AND l.status = 'open'
         WHERE m.chain_id = $1 ORDER BY m.token_id",
    )
    .bind(cid)
    .bind(Address::ZERO.as_slice())
    .fetch_all(pool)
    .await?;
    let mut tokens = Vec::with_capacity(rows.len());
    for r in &rows {
        let listing = match r.get::<Option<&str>, _>(7) {
            Some(id) => Some((
                u256(id)?,
                addr(r.get(4))?,
                u256(r.get(5))?,
                u256(r.get(8))?.saturating_to::<u64>(),
                u64::try_from(r.get::<i64, _>(9)).unwrap_or(u64::MAX),
                u256(r.get(6))?,
                r.get::<Option<bool>, _>(10).unwrap_or(false),
            )),
            None => None,
        };
        tokens.push(DbToken {
            id: u256(r.get(0))?,
            owner: addr(r.get(1))?,
            account: r.get::<Option<&[u8]>, _>(2).map(addr).transpose()?,
            transfer_count: u64::try_from(r.get::<i64, _>(3)).unwrap_or(u64::MAX),
            listing,
        });
    }
    report.tokens = tokens.len();
    let supply = nft.totalSupply().block(at).call().await.map_err(rpc)?;
    if supply != U256::from(tokens.len()) {
        report.mismatches.push(Mismatch {
            what: "number of tokens".into(),
            db: tokens.len().to_string(),
            chain: supply.to_string(),
        });
    }

    for chunk in tokens.chunks(CONCURRENCY) {
        let mut set = tokio::task::JoinSet::new();
        for t in chunk {
            let (nft, market, provider) = (nft.clone(), market.clone(), provider.clone());
            let (id, owner, account, listing) = (t.id, t.owner, t.account, t.listing);
            let transfer_count = t.transfer_count;
            set.spawn(async move {
                let mut out = Vec::new();
                let chain_owner = nft.ownerOf(id).block(at).call().await.map_err(rpc)?;
                if chain_owner != owner {
                    out.push(Mismatch {
                        what: format!("owner of token {id}"),
                        db: owner.to_string(),
                        chain: chain_owner.to_string(),
                    });
                }
                let expected = nft.accountOf(id).block(at).call().await.map_err(rpc)?;
                let code = provider
                    .get_code_at(expected)
                    .block_id(at)
                    .await
                    .map_err(rpc)?;
                let chain_account = (!code.is_empty()).then_some(expected);
                if chain_account != account {
                    out.push(Mismatch {
                        what: format!("account of token {id}"),
                        db: format!("{account:?}"),
                        chain: format!("{chain_account:?}"),
                    });
                }
                let count = nft
                    .transferCountOf(id)
                    .block(at)
                    .call()
                    .await
                    .map_err(rpc)?;
                if count != U256::from(transfer_count) {
                    out.push(Mismatch {
                        what: format!("transfer count of token {id}"),
                        db: transfer_count.to_string(),
                        chain: count.to_string(),
                    });
                }
                let l = market.listingOf(id).block(at).call().await.map_err(rpc)?;
                let chain_listing = if l.listingId.is_zero() {
                    None
                } else {
                    // `live` of listingOf also checks a contract seller's owners, which the
                    // indexer does not follow: compare with isListingLive (expiry, transfers)
                    let live = market
                        .isListingLive(id)
                        .block(at)
                        .call()
                        .await
                        .map_err(rpc)?;
                    Some((
                        l.listingId,
                        l.seller,
                        l.price,
                        l.expiresAt,
                        u64::from(l.transferCount),
                        l.accountState,
                        live,
                    ))
                };
                if chain_listing != listing {
                    out.push(Mismatch {
                        what: format!("open listing of token {id}"),
                        db: format!("{listing:?}"),
                        chain: format!("{chain_listing:?}"),
                    });
                }
                Ok::<_, Error>(out)
            });
        }
        while let Some(r) = set.join_next().await {
            report
                .mismatches
                .extend(r.map_err(|e| Error::Pipeline(e.to_string()))??);
        }
    }

    let certs = sqlx::query(
        "SELECT digest, token_id::text, certifier, revoked, expires_at::text, creator
         FROM certificates WHERE chain_id = $1 ORDER BY digest",
    )
    .bind(cid)
    .fetch_all(pool)
    .await?;
    report.certificates = certs.len();
    let mut db_certs: HashMap<B256, (U256, Address, bool, u64, Address)> = HashMap::new();
    for r in &certs {
        let digest = B256::try_from(r.get::<&[u8], _>(0))
            .map_err(|_| Error::Pipeline("bad digest".into()))?;
        db_certs.insert(
            digest,
            (
                u256(r.get(1))?,
                addr(r.get(2))?,
                r.get(3),
                u256(r.get(4))?.saturating_to::<u64>(),
                addr(r.get(5))?,
            ),
        );
    }
    let entries: Vec<_> = db_certs.into_iter().collect();
    for chunk in entries.chunks(CONCURRENCY) {
        let mut set = tokio::task::JoinSet::new();
        for (digest, stored) in chunk.iter().copied() {
            let nft = nft.clone();
            set.spawn(async move {
                let on_chain = match nft.certificateOf(digest).block(at).call().await {
                    // the chain keeps no creator per certificate: the contract anchored it only
                    // if it named the token's creator
                    Ok(c) => {
                        let m = nft
                            .memoryOf(c.tokenId)
                            .block(at)
                            .call()
                            .await
                            .map_err(rpc)?;
                        format!(
                            "{:?}",
                            (c.tokenId, c.certifier, c.revoked, c.expiresAt, m.creator)
                        )
                    }
                    Err(e) if e.to_string().contains("revert") => "unknown certificate".to_string(),
                    Err(e) => return Err(rpc(e)),
                };
                let db = format!("{stored:?}");
                Ok((on_chain != db).then(|| Mismatch {
                    what: format!("certificate {digest}"),
                    db,
                    chain: on_chain,
                }))
            });
        }
        while let Some(r) = set.join_next().await {
            report
                .mismatches
                .extend(r.map_err(|e| Error::Pipeline(e.to_string()))??);
        }
    }
    info!(
        target: "indexer::verify",
        block,
        tokens = report.tokens,
        certificates = report.certificates,
        mismatches = report.mismatches.len(),
        "verified"
    );
    Ok(report)
}
