//! The chain side of ingestion: a JSON-RPC client with latency/error metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::Address;
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;

use crate::approvals;
use crate::bindings::ERC6551Registry;
use crate::db::Header;
use crate::error::{Error, Result};
use crate::events::Contracts;
use crate::metrics::Metrics;

/// JSON-RPC access to the indexed chain.
#[derive(Debug, Clone)]
pub struct Chain {
    provider: RootProvider,
    contracts: Contracts,
    metrics: Arc<Metrics>,
}

impl Chain {
    /// A client of `rpc_url` for `contracts`.
    pub fn new(rpc_url: &str, contracts: Contracts, metrics: Arc<Metrics>) -> Result<Self> {
        let url = rpc_url
            .parse()
            .map_err(|e| Error::Config(format!("bad RPC URL {rpc_url}: {e}")))?;
        Ok(Self {
            provider: RootProvider::new_http(url),
            contracts,
            metrics,
        })
    }

    /// The underlying provider (for contract calls in `verify`).
    pub fn provider(&self) -> &RootProvider {
        &self.provider
    }

    /// The indexed contracts.
    pub fn contracts(&self) -> &Contracts {
        &self.contracts
    }

    async fn timed<T, F>(&self, fut: F) -> Result<T>
    where
        F: std::future::Future<Output = Result<T, alloy::transports::TransportError>>,
    {
        let t = Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(30), fut).await;
        self.metrics.rpc_latency.observe(t.elapsed());
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                self.metrics
                    .rpc_errors_total
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Err(Error::Rpc(e.to_string()))
            }
            Err(_) => {
                self.metrics
                    .rpc_errors_total
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Err(Error::Rpc("timed out after 30s".into()))
            }
        }
    }

    /// `eth_chainId`.
    pub async fn chain_id(&self) -> Result<u64> {
        self.timed(async { self.provider.get_chain_id().await })
            .await
    }

    /// The latest block's header.
    pub async fn latest(&self) -> Result<Header> {
        self.header_at(BlockNumberOrTag::Latest)
            .await?
            .ok_or_else(|| Error::Rpc("node returned no latest block".into()))
    }

    /// The header of block `number`, `None` if the chain is shorter.
    pub async fn header(&self, number: u64) -> Result<Option<Header>> {
        self.header_at(BlockNumberOrTag::Number(number)).await
    }

    async fn header_at(&self, tag: BlockNumberOrTag) -> Result<Option<Header>> {
        let block = self
            .timed(async { self.provider.get_block_by_number(tag).await })
            .await?;
        Ok(block.map(|b| Header {
            number: b.header.number,
            hash: b.header.hash,
            parent_hash: b.header.parent_hash,
            timestamp: b.header.timestamp,
        }))
    }

    /// All logs of the indexed contracts in `from..=to`, in chain order: one `eth_getLogs` for
    /// the token and market contracts and one for the registry, filtered on our token contract
    /// (concurrently).
    pub async fn logs(&self, from: u64, to: u64) -> Result<Vec<Log>> {
        let c = &self.contracts;
        let main = Filter::new()
            .address(vec![c.nft, c.market])
            .from_block(from)
            .to_block(to);
        let registry = Filter::new()
            .address(c.registry)
            .event_signature(ERC6551Registry::ERC6551AccountCreated::SIGNATURE_HASH)
            .topic2(c.nft.into_word())
            .from_block(from)
            .to_block(to);
        let (a, b) = tokio::join!(
            self.timed(async { self.provider.get_logs(&main).await }),
            self.timed(async { self.provider.get_logs(&registry).await })
        );
        let (mut logs, b) = (a?, b?);
        if !b.is_empty() {
            logs.extend(b);
            logs.sort_by_key(|l| (l.block_number, l.log_index));
        }
        Ok(logs)
    }

    /// The `Approval` and `ApprovalForAll` logs of any contract in `from..=to` whose owner
    /// (topic 1) is one of `accounts`: one `eth_getLogs` per [`approvals::ACCOUNTS_PER_CALL`]
    /// accounts, at most [`APPROVAL_CALLS_IN_FLIGHT`] at a time. Unordered.
    pub async fn approval_logs(
        &self,
        from: u64,
        to: u64,
        accounts: &[Address],
    ) -> Result<Vec<Log>> {
        let mut logs = Vec::new();
        let chunks: Vec<&[Address]> = accounts.chunks(approvals::ACCOUNTS_PER_CALL).collect();
        for wave in chunks.chunks(APPROVAL_CALLS_IN_FLIGHT) {
            let mut set = tokio::task::JoinSet::new();
            for chunk in wave {
                let filter = Filter::new()
                    .event_signature(vec![approvals::APPROVAL, approvals::APPROVAL_FOR_ALL])
                    .topic1(chunk.iter().map(|a| a.into_word()).collect::<Vec<_>>())
                    .from_block(from)
                    .to_block(to);
                let chain = self.clone();
                set.spawn(async move {
                    chain
                        .timed(async { chain.provider.get_logs(&filter).await })
                        .await
                });
            }
            while let Some(r) = set.join_next().await {
                logs.extend(r.map_err(|e| Error::Pipeline(e.to_string()))??);
            }
        }
        Ok(logs)
    }
}

/// Concurrent `eth_getLogs` calls of one [`Chain::approval_logs`].
pub const APPROVAL_CALLS_IN_FLIGHT: usize = 8;
