//! The chain side of ingestion: a JSON-RPC client with latency/error metrics.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, Bloom};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;

use crate::approvals;
use crate::bindings::ERC6551Registry;
use crate::db::Header;
use crate::error::{Error, Result};
use crate::events::Contracts;
use crate::metrics::Metrics;

/// A block's header with its logs bloom (what live follow checks the logs against).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// The header as stored.
    pub header: Header,
    /// The header's `logsBloom`.
    pub bloom: Bloom,
}

/// What an `eth_getLogs` call covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Blocks `from..=to` by number: a backend that is behind answers with fewer logs, not an
    /// error.
    Range(u64, u64),
    /// One block by hash (EIP-234): a backend without the block fails instead of answering
    /// `[]`, so the answer is complete.
    Block(B256),
}

impl Scope {
    fn apply(self, filter: Filter) -> Filter {
        match self {
            Self::Range(from, to) => filter.from_block(from).to_block(to),
            Self::Block(hash) => filter.at_block_hash(hash),
        }
    }
}

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
        Ok(self.latest_block().await?.header)
    }

    /// The latest block's header and logs bloom.
    pub async fn latest_block(&self) -> Result<Block> {
        self.block_at(BlockNumberOrTag::Latest)
            .await?
            .ok_or_else(|| Error::Rpc("node returned no latest block".into()))
    }

    /// The header of block `number`, `None` if the chain is shorter.
    pub async fn header(&self, number: u64) -> Result<Option<Header>> {
        Ok(self.block(number).await?.map(|b| b.header))
    }

    /// The header and logs bloom of block `number`, `None` if the chain is shorter.
    pub async fn block(&self, number: u64) -> Result<Option<Block>> {
        self.block_at(BlockNumberOrTag::Number(number)).await
    }

    async fn block_at(&self, tag: BlockNumberOrTag) -> Result<Option<Block>> {
        let block = self
            .timed(async { self.provider.get_block_by_number(tag).await })
            .await?;
        Ok(block.map(|b| Block {
            header: Header {
                number: b.header.number,
                hash: b.header.hash,
                parent_hash: b.header.parent_hash,
                timestamp: b.header.timestamp,
            },
            bloom: b.header.logs_bloom,
        }))
    }

    /// The headers of blocks `numbers` (any order, duplicates allowed), keyed by number: in
    /// batched JSON-RPC requests of [`HEADERS_PER_BATCH`] `eth_getBlockByNumber` calls, at most
    /// [`HEADER_BATCHES_IN_FLIGHT`] requests at a time. A block the node does not have is an
    /// error (the caller retries).
    pub async fn headers(&self, numbers: &[u64]) -> Result<BTreeMap<u64, Header>> {
        let mut numbers = numbers.to_vec();
        numbers.sort_unstable();
        numbers.dedup();
        let mut out = BTreeMap::new();
        let requests: Vec<&[u64]> = numbers.chunks(HEADERS_PER_BATCH).collect();
        for wave in requests.chunks(HEADER_BATCHES_IN_FLIGHT) {
            let mut set = tokio::task::JoinSet::new();
            for chunk in wave {
                let (chain, chunk) = (self.clone(), chunk.to_vec());
                set.spawn(async move { chain.header_batch(&chunk).await });
            }
            while let Some(r) = set.join_next().await {
                for h in r.map_err(|e| Error::Pipeline(e.to_string()))?? {
                    out.insert(h.number, h);
                }
            }
        }
        Ok(out)
    }

    /// One batched JSON-RPC request of `eth_getBlockByNumber(n, false)` for every `n`.
    async fn header_batch(&self, numbers: &[u64]) -> Result<Vec<Header>> {
        let rpc = |e: alloy::transports::TransportError| Error::Rpc(e.to_string());
        let client = self.provider.client();
        let mut batch = alloy::rpc::client::BatchRequest::new(client);
        let mut waiters = Vec::with_capacity(numbers.len());
        for &n in numbers {
            let w = batch
                .add_call::<_, Option<alloy::rpc::types::Block>>(
                    "eth_getBlockByNumber",
                    &(BlockNumberOrTag::Number(n), false),
                )
                .map_err(rpc)?;
            waiters.push((n, w));
        }
        self.timed(batch.send()).await?;
        let mut out = Vec::with_capacity(numbers.len());
        for (n, w) in waiters {
            let block = w.await.map_err(rpc)?.ok_or_else(|| {
                Error::Rpc(format!("block {n} not found (a lagging RPC backend?)"))
            })?;
            out.push(Header {
                number: block.header.number,
                hash: block.header.hash,
                parent_hash: block.header.parent_hash,
                timestamp: block.header.timestamp,
            });
        }
        Ok(out)
    }

    /// All logs of the indexed contracts in `scope`, in chain order: one `eth_getLogs` for
    /// the token and market contracts and one for the registry, filtered on our token contract
    /// (concurrently).
    pub async fn logs(&self, scope: Scope) -> Result<Vec<Log>> {
        let c = &self.contracts;
        let main = scope.apply(Filter::new().address(vec![c.nft, c.market]));
        let registry = scope.apply(
            Filter::new()
                .address(c.registry)
                .event_signature(ERC6551Registry::ERC6551AccountCreated::SIGNATURE_HASH)
                .topic2(c.nft.into_word()),
        );
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

    /// The `Approval` and `ApprovalForAll` logs of any contract in `scope` whose owner
    /// (topic 1) is one of `accounts`: one `eth_getLogs` per [`approvals::ACCOUNTS_PER_CALL`]
    /// accounts, at most [`APPROVAL_CALLS_IN_FLIGHT`] at a time. Unordered.
    pub async fn approval_logs(&self, scope: Scope, accounts: &[Address]) -> Result<Vec<Log>> {
        let mut logs = Vec::new();
        let chunks: Vec<&[Address]> = accounts.chunks(approvals::ACCOUNTS_PER_CALL).collect();
        for wave in chunks.chunks(APPROVAL_CALLS_IN_FLIGHT) {
            let mut set = tokio::task::JoinSet::new();
            for chunk in wave {
                let filter = scope.apply(
                    Filter::new()
                        .event_signature(vec![approvals::APPROVAL, approvals::APPROVAL_FOR_ALL])
                        .topic1(chunk.iter().map(|a| a.into_word()).collect::<Vec<_>>()),
                );
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

/// `eth_getBlockByNumber` calls per batched request of [`Chain::headers`].
pub const HEADERS_PER_BATCH: usize = 100;

/// Batched requests of one [`Chain::headers`] in flight at a time.
pub const HEADER_BATCHES_IN_FLIGHT: usize = 4;
