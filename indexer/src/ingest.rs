//! Ingestion: backfill over adaptive `eth_getLogs` ranges with fetching pipelined with writing,
//! live follow by polling the head, reorg detection by parent hash and rollback.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256};
use sqlx::PgPool;
use tokio::sync::mpsc;
use tracing::{debug, error, info, instrument, warn};

use crate::approvals;
use crate::config::Config;
use crate::db::{self, Batch, Checkpoint, Header};
use crate::error::{Error, Result};
use crate::events::{self, Contracts, Event, Meta};
use crate::metrics::Metrics;
use crate::rpc::Chain;

/// Most blocks one live step covers (each needs its header).
const LIVE_MAX_BLOCKS: u64 = 256;

/// Exponential backoff between retries: 100 ms doubling to 5 s.
#[derive(Debug)]
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Self(Duration::from_millis(100))
    }
    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
    }
    fn reset(&mut self) {
        self.0 = Duration::from_millis(100);
    }
}

/// What one step of the main loop did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Indexed blocks or rolled back a reorg.
    Advanced,
    /// Nothing new: the checkpoint is the chain head.
    Idle,
}

/// The accounts whose approvals are followed ([`approvals`]), as of one checkpoint (block,
/// hash): loaded from the database when the checkpoint is not the one they were valid for (at
/// start, after a rollback, after another writer), extended by each batch written.
#[derive(Debug, Default)]
struct KnownAccounts {
    at: Option<(i64, Option<B256>)>,
    set: Arc<BTreeSet<Address>>,
}

/// The indexer of one chain.
#[derive(Debug, Clone)]
pub struct Indexer {
    cfg: Config,
    chain_id: u64,
    pool: PgPool,
    chain: Chain,
    metrics: Arc<Metrics>,
    accounts: Arc<Mutex<KnownAccounts>>,
}

impl Indexer {
    /// Connects to the chain, checks its id against the configuration and initialises the
    /// chain's status row (the database must be migrated).
    pub async fn new(cfg: Config, pool: PgPool, metrics: Arc<Metrics>) -> Result<Self> {
        let contracts = Contracts {
            nft: cfg.nft,
            market: cfg.market,
            registry: cfg.registry,
        };
        let chain = Chain::new(&cfg.rpc_url, contracts, metrics.clone())?;
        let mut backoff = Backoff::new();
        let actual = loop {
            match chain.chain_id().await {
                Ok(id) => break id,
                Err(e) => {
                    warn!(target: "indexer::ingest", error = %e, "RPC not reachable, retrying");
                    backoff.wait().await;
                }
            }
        };
        if let Some(configured) = cfg.chain_id
            && configured != actual
        {
            return Err(Error::ChainIdMismatch { configured, actual });
        }
        let cp = db::init_chain(&pool, actual, cfg.nft, cfg.market, cfg.start_block).await?;
        metrics.indexed_block.store(cp.block, Ordering::Relaxed);
        info!(target: "indexer::ingest", chain_id = actual, checkpoint = cp.block, nft = %cfg.nft, "indexer ready");
        Ok(Self {
            cfg,
            chain_id: actual,
            pool,
            chain,
            metrics,
            accounts: Arc::default(),
        })
    }

    /// The chain id being indexed.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The chain client.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// Indexes forever: backfill, then live follow. Transient RPC and database errors are
    /// retried with backoff; returns only on a fatal error (such as a reorg deeper than the
    /// finality depth), which it also logs loudly.
    pub async fn run(&self) -> Result<()> {
        let mut backoff = Backoff::new();
        loop {
            match self.step().await {
                Ok(Progress::Advanced) => backoff.reset(),
                Ok(Progress::Idle) => {
                    backoff.reset();
                    tokio::time::sleep(self.cfg.poll_interval).await;
                }
                Err(e) if e.is_fatal() => {
                    error!(target: "indexer::ingest", error = %e, "indexer stopped");
                    return Err(e);
                }
                Err(e) => {
                    warn!(target: "indexer::ingest", error = %e, "step failed, retrying");
                    backoff.wait().await;
                }
            }
        }
    }

    /// Indexes until the checkpoint is the current chain head, then returns it. Errors are
    /// returned, not retried (for tests and one-shot runs).
    pub async fn sync(&self) -> Result<Checkpoint> {
        while self.step().await? == Progress::Advanced {}
        db::checkpoint(&self.pool, self.chain_id).await
    }

    /// One step: backfill what is final, else index new blocks or handle a reorg.
    pub async fn step(&self) -> Result<Progress> {
        let cp = db::checkpoint(&self.pool, self.chain_id).await?;
        let latest = self.chain.latest().await?;
        let head = latest.number;
        if self.metrics.head_block.swap(head as i64, Ordering::Relaxed) != head as i64 {
            db::set_head(&self.pool, self.chain_id, head).await?;
        }
        let finalized = head as i64 - self.cfg.finality_depth as i64;
        if cp.block < finalized {
            self.backfill(cp, finalized as u64, head).await?;
            return Ok(Progress::Advanced);
        }
        if cp.block == head as i64 {
            if cp.hash.is_none_or(|h| h == latest.hash) {
                return Ok(Progress::Idle);
            }
            self.reorg(cp).await?;
            return Ok(Progress::Advanced);
        }
        if cp.block > head as i64 {
            // the chain got shorter than our checkpoint: a reorg (or a restarted node)
            self.reorg(cp).await?;
            return Ok(Progress::Advanced);
        }
        self.live(cp, latest).await
    }

    /// The accounts whose approvals are followed, valid on top of `cp`.
    async fn known_accounts(&self, cp: Checkpoint) -> Result<Arc<BTreeSet<Address>>> {
        let at = Some((cp.block, cp.hash));
        if let Some(k) = self.accounts.lock().ok().filter(|k| k.at == at) {
            return Ok(k.set.clone());
        }
        let set: Arc<BTreeSet<Address>> = Arc::new(
            db::account_addresses(&self.pool, self.chain_id)
                .await?
                .into_iter()
                .collect(),
        );
        if let Ok(mut k) = self.accounts.lock() {
            *k = KnownAccounts {
                at,
                set: set.clone(),
            };
        }
        Ok(set)
    }

    /// After `batch` was written: its accounts are known from its checkpoint on (or the set is
    /// reloaded at the next step, if it was not valid for the batch's predecessor).
    fn advance_accounts(&self, batch: &Batch) {
        let Ok(mut k) = self.accounts.lock() else {
            return;
        };
        if k.at
            .is_some_and(|(b, _)| b == i64::try_from(batch.from).unwrap_or(i64::MAX) - 1)
        {
            let created = approvals::created(&batch.events, &k.set);
            if !created.is_empty() {
                Arc::make_mut(&mut k.set).extend(created.into_keys());
            }
            k.at = Some((
                i64::try_from(batch.to).unwrap_or(i64::MAX),
                Some(batch.to_header.hash),
            ));
        } else {
            k.at = None;
        }
    }

    /// Whether the checkpoint block is still canonical; on a mismatch handles the reorg.
    async fn check_checkpoint(&self, cp: Checkpoint) -> Result<bool> {
        let (Some(hash), Ok(block)) = (cp.hash, u64::try_from(cp.block)) else {
            return Ok(true);
        };
        let canonical = self.chain.header(block).await?.map(|h| h.hash);
        if canonical == Some(hash) {
            return Ok(true);
        }
        self.reorg(cp).await?;
        Ok(false)
    }

    /// Backfills final blocks `cp.block + 1 ..= target`: a fetch task walks adaptive ranges
    /// and hands batches to this task, which writes them; at most `pipeline_depth` batches are
    /// in flight, so memory stays bounded whatever the range.
    #[instrument(target = "indexer::ingest", skip_all, fields(from = cp.block + 1, to = target))]
    async fn backfill(&self, cp: Checkpoint, target: u64, head: u64) -> Result<()> {
        if !self.check_checkpoint(cp).await? {
            return Ok(());
        }
        let from = u64::try_from(cp.block + 1).unwrap_or(0);
        let (tx, mut rx) = mpsc::channel::<Result<Batch>>(self.cfg.pipeline_depth);
        let fetcher = Fetcher {
            known: self.known_accounts(cp).await?,
            chain: self.chain.clone(),
            batch_logs: self.cfg.batch_logs,
            max_blocks: self.cfg.max_batch_blocks,
            finalized: target as i64,
            head,
        };
        let initial = self.cfg.batch_blocks;
        let producer =
            tokio::spawn(async move { fetcher.produce(from, target, initial, tx).await });
        let result = async {
            while let Some(batch) = rx.recv().await {
                self.write(&batch?).await?;
            }
            Ok(())
        }
        .await;
        producer.abort();
        result
    }

    /// Indexes new unfinalized blocks after `cp` up to `latest`, checking parent hashes.
    #[instrument(target = "indexer::ingest", skip_all, fields(from = cp.block + 1, head = latest.number))]
    async fn live(&self, cp: Checkpoint, latest: Header) -> Result<Progress> {
        let from = u64::try_from(cp.block + 1).unwrap_or(0);
        let to = latest.number.min(from + LIVE_MAX_BLOCKS - 1);
        let mut set = tokio::task::JoinSet::new();
        for n in from..=to {
            if n == latest.number {
                continue;
            }
            let chain = self.chain.clone();
            set.spawn(async move { chain.header(n).await });
        }
        let known = self.known_accounts(cp).await?;
        let fetched = fetch_range(&self.chain, from, to, &known).await?;
        let mut headers: Vec<Header> = Vec::with_capacity((to - from + 1) as usize);
        if to == latest.number {
            headers.push(latest);
        }
        while let Some(r) = set.join_next().await {
            let h = r.map_err(|e| Error::Pipeline(e.to_string()))??;
            match h {
                Some(h) => headers.push(h),
                None => return Ok(Progress::Advanced), // chain shrank meanwhile: next step sees it
            }
        }
        headers.sort_by_key(|h| h.number);
        let first = headers
            .first()
            .ok_or_else(|| Error::Pipeline("no headers".into()))?;
        if cp.hash.is_some_and(|h| h != first.parent_hash) {
            info!(target: "indexer::reorg", block = from, "parent hash mismatch: reorg");
            self.reorg(cp).await?;
            return Ok(Progress::Advanced);
        }
        if headers.windows(2).any(|w| w[1].parent_hash != w[0].hash) {
            debug!(target: "indexer::reorg", "headers changed while fetching; retrying");
            return Ok(Progress::Advanced);
        }
        let mut evs = Vec::with_capacity(fetched.events.len());
        for (meta, ev) in fetched.events {
            let h = meta
                .block_number
                .checked_sub(from)
                .and_then(|i| headers.get(i as usize));
            if h.is_none_or(|h| h.hash != meta.block_hash) {
                debug!(target: "indexer::reorg", block = meta.block_number, "log of another fork; retrying");
                return Ok(Progress::Advanced);
            }
            evs.push(with_timestamp(meta, ev, &headers, from));
        }
        let to_header = *headers
            .last()
            .ok_or_else(|| Error::Pipeline("no headers".into()))?;
        let batch = Batch {
            from,
            to,
            to_header,
            events: evs,
            headers,
            finalized: latest.number as i64 - self.cfg.finality_depth as i64,
            head: latest.number,
        };
        self.write(&batch).await?;
        Ok(Progress::Advanced)
    }

    /// Finds the fork point by walking the stored window back until a stored hash is the
    /// canonical one, and rolls back to it. Fatal if the window holds no common block.
    #[instrument(target = "indexer::reorg", skip_all, fields(checkpoint = cp.block))]
    async fn reorg(&self, cp: Checkpoint) -> Result<()> {
        let stored = db::stored_headers(&self.pool, self.chain_id).await?;
        let mut oldest = cp.block.max(0) as u64;
        for h in stored.iter().filter(|h| h.number as i64 <= cp.block) {
            oldest = h.number;
            let canonical = self.chain.header(h.number).await?;
            if canonical.is_some_and(|c| c.hash == h.hash) {
                let removed = db::rollback(&self.pool, self.chain_id, h.number, h.hash).await?;
                if let Ok(mut k) = self.accounts.lock() {
                    k.at = None;
                }
                self.metrics.reorgs_total.fetch_add(1, Ordering::Release);
                self.metrics
                    .reorg_blocks_total
                    .fetch_add(removed, Ordering::Relaxed);
                self.metrics
                    .indexed_block
                    .store(h.number as i64, Ordering::Relaxed);
                warn!(target: "indexer::reorg", fork = h.number, depth = removed, "reorg rolled back");
                return Ok(());
            }
        }
        Err(Error::ReorgTooDeep {
            finality_depth: self.cfg.finality_depth,
            oldest_checked: oldest,
            indexed_block: cp.block.max(0) as u64,
        })
    }

    /// Writes a batch, retrying database errors with backoff (a commit whose acknowledgement
    /// was lost is recognised by the checkpoint and not applied again).
    async fn write(&self, batch: &Batch) -> Result<()> {
        let mut backoff = Backoff::new();
        loop {
            let t = Instant::now();
            match db::write_batch(
                &self.pool,
                self.chain_id,
                self.cfg.account_implementation,
                batch,
            )
            .await
            {
                Ok(n) => {
                    self.advance_accounts(batch);
                    self.metrics.db_latency.observe(t.elapsed());
                    self.metrics
                        .events_total
                        .fetch_add(n as u64, Ordering::Relaxed);
                    self.metrics.batches_total.fetch_add(1, Ordering::Release);
                    self.metrics
                        .indexed_block
                        .store(batch.to as i64, Ordering::Relaxed);
                    info!(target: "indexer::ingest", from = batch.from, to = batch.to, events = n, "batch indexed");
                    return Ok(());
                }
                Err(Error::Db(e)) => {
                    self.metrics.db_errors_total.fetch_add(1, Ordering::Relaxed);
                    warn!(target: "indexer::db", error = %e, "batch write failed, retrying");
                    backoff.wait().await;
                    if let Ok(cp) = db::checkpoint(&self.pool, self.chain_id).await
                        && cp.block == batch.to as i64
                        && cp.hash == Some(batch.to_header.hash)
                    {
                        self.advance_accounts(batch);
                        return Ok(());
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn with_timestamp(mut meta: Meta, ev: Event, headers: &[Header], from: u64) -> (Meta, Event) {
    if meta.block_timestamp.is_none() {
        meta.block_timestamp = meta
            .block_number
            .checked_sub(from)
            .and_then(|i| headers.get(i as usize))
            .map(|h| h.timestamp);
    }
    (meta, ev)
}

/// The events of one block range.
struct Fetched {
    /// Decoded events in chain order.
    events: Vec<(Meta, Event)>,
    /// Raw logs fetched (what the adaptive range sizes on).
    logs: usize,
    /// Accounts the range creates that were not known before it.
    created: Vec<Address>,
}

/// Fetches and decodes the events of `from..=to`: the contracts' logs and, concurrently, the
/// approvals of the accounts `known` before the range; then, if the range creates accounts,
/// their approvals (see [`approvals`]).
async fn fetch_range(
    chain: &Chain,
    from: u64,
    to: u64,
    known: &BTreeSet<Address>,
) -> Result<Fetched> {
    let owners: Vec<Address> = known.iter().copied().collect();
    let (logs, approval_logs) = tokio::join!(chain.logs(from, to), async {
        if owners.is_empty() {
            Ok(Vec::new())
        } else {
            chain.approval_logs(from, to, &owners).await
        }
    });
    let (logs, mut approval_logs) = (logs?, approval_logs?);
    let mut evs = Vec::with_capacity(logs.len());
    for log in &logs {
        if let Some(e) = events::decode(log, chain.contracts())? {
            evs.push(e);
        }
    }
    let created = approvals::created(&evs, known);
    let mut new: Vec<Address> = created.keys().copied().collect();
    new.sort_unstable();
    if !new.is_empty() {
        approval_logs.extend(chain.approval_logs(from, to, &new).await?);
    }
    let n = logs.len() + approval_logs.len();
    drop(logs);
    if !approval_logs.is_empty() {
        let decoded = approval_logs.iter().filter_map(approvals::decode);
        evs.extend(approvals::select(decoded, known, &created));
        evs.sort_by_key(|(m, _)| (m.block_number, m.log_index));
    }
    Ok(Fetched {
        events: evs,
        logs: n,
        created: new,
    })
}

/// The fetch side of the backfill pipeline.
struct Fetcher {
    /// Accounts known before the next range (extended by every batch sent).
    known: Arc<BTreeSet<Address>>,
    chain: Chain,
    batch_logs: usize,
    max_blocks: u64,
    finalized: i64,
    head: u64,
}

impl Fetcher {
    /// Fetches `from..=target` in adaptive ranges and sends one batch per range. The range
    /// halves on any RPC error (provider limits, timeouts), shrinks to the size that would hold
    /// `batch_logs` events when a response is larger (a response above 4× is dropped, to bound
    /// memory), and grows towards that size (at most 4× per step) while responses are small.
    async fn produce(
        mut self,
        mut from: u64,
        target: u64,
        initial: u64,
        tx: mpsc::Sender<Result<Batch>>,
    ) {
        let mut size = initial.max(1);
        let mut backoff = Backoff::new();
        while from <= target {
            let to = target.min(from.saturating_add(size - 1));
            let (fetched, header) = tokio::join!(
                fetch_range(&self.chain, from, to, &self.known),
                self.chain.header(to)
            );
            let (fetched, header) = match (fetched, header) {
                (Ok(f), Ok(Some(h))) => (f, h),
                (Err(e), _) if e.is_fatal() => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
                (Err(e), _) | (_, Err(e)) => {
                    warn!(target: "indexer::ingest", from, to, error = %e, "eth_getLogs failed; shrinking range");
                    size = (size / 2).max(1);
                    backoff.wait().await;
                    continue;
                }
                (Ok(_), Ok(None)) => {
                    warn!(target: "indexer::ingest", block = to, "block not found; retrying");
                    backoff.wait().await;
                    continue;
                }
            };
            backoff.reset();
            let span = to - from + 1;
            // what the range would have to be for `batch_logs` events at this density
            let fitted =
                |n: usize| (span.saturating_mul(self.batch_logs as u64) / n.max(1) as u64).max(1);
            if fetched.logs > self.batch_logs.saturating_mul(4) && span > 1 {
                size = fitted(fetched.logs);
                continue;
            }
            let evs = fetched.events;
            let n = evs.len();
            if n < self.batch_logs / 2 {
                size = fitted(n).min(size.saturating_mul(4)).min(self.max_blocks);
            } else if n > self.batch_logs {
                size = fitted(n);
            }
            let batch = Batch {
                from,
                to,
                to_header: header,
                events: evs,
                headers: vec![header],
                finalized: self.finalized,
                head: self.head,
            };
            if tx.send(Ok(batch)).await.is_err() {
                return;
            }
            if !fetched.created.is_empty() {
                Arc::make_mut(&mut self.known).extend(fetched.created);
            }
            from = to + 1;
        }
    }
}
