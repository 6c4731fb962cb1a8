//! Ingestion: backfill over adaptive `eth_getLogs` ranges with fetching pipelined with writing,
//! live follow by polling the head, reorg detection by parent hash and rollback. One writer per
//! chain and database ([`db::WriterLock`]); a head below the checkpoint is waited for, never
//! rolled back.

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
use crate::db::{self, Batch, Checkpoint, Header, WriterLock};
use crate::error::{Error, Result};
use crate::events::{self, Contracts, Event, Meta};
use crate::metrics::Metrics;
use crate::rpc::Chain;

/// Most blocks one live step covers (each needs its header).
const LIVE_MAX_BLOCKS: u64 = 256;

/// How often a wait for the chain head (behind the checkpoint) says so at warn level.
const HEAD_WAIT_LOG_EVERY: Duration = Duration::from_secs(5);

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

    /// Takes the chain's writer lock ([`db::WriterLock`]) on a connection of its own: waits for
    /// another writer to stop when configured to (`wait_for_lock`, the default), else fails with
    /// [`Error::WriterLocked`].
    pub async fn writer_lock(&self) -> Result<WriterLock> {
        let lock = WriterLock::acquire(&self.pool, self.chain_id, self.cfg.wait_for_lock).await?;
        self.metrics.writer_lock_held.store(1, Ordering::Relaxed);
        Ok(lock)
    }

    /// Indexes forever: takes the writer lock, then backfill, then live follow. Transient RPC
    /// and database errors are retried with backoff; returns only on a fatal error (such as a
    /// reorg deeper than the finality depth, or another writer when not waiting for it), which
    /// it also logs loudly. The lock is held until the future returns or is dropped.
    pub async fn run(&self) -> Result<()> {
        let mut backoff = Backoff::new();
        let lock = loop {
            match self.writer_lock().await {
                Ok(lock) => break lock,
                Err(e) if e.is_fatal() => {
                    error!(target: "indexer::ingest", error = %e, "indexer stopped");
                    return Err(e);
                }
                Err(e) => {
                    warn!(target: "indexer::ingest", error = %e, "cannot take the writer lock, retrying");
                    backoff.wait().await;
                }
            }
        };
        let _held = LockGauge(&self.metrics);
        backoff.reset();
        loop {
            match self.step(&lock).await {
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

    /// Takes the writer lock, indexes until the checkpoint is the current chain head, then
    /// returns it (and releases the lock). Errors are returned, not retried (for tests and
    /// one-shot runs).
    pub async fn sync(&self) -> Result<Checkpoint> {
        let lock = self.writer_lock().await?;
        let _held = LockGauge(&self.metrics);
        while self.step(&lock).await? == Progress::Advanced {}
        db::checkpoint(&self.pool, self.chain_id).await
    }

    /// One step under the writer `lock`: backfill what is final, else index new blocks or
    /// handle a reorg. A batch refused because the checkpoint moved to another fork
    /// ([`Error::ForkMismatch`]) is not an error: the next step re-checks the checkpoint
    /// against the chain.
    pub async fn step(&self, lock: &WriterLock) -> Result<Progress> {
        match self.step_inner(lock).await {
            Err(e @ Error::ForkMismatch { .. }) => {
                self.metrics
                    .batches_refused_total
                    .fetch_add(1, Ordering::Relaxed);
                info!(target: "indexer::reorg", error = %e, "batch refused; re-checking the checkpoint");
                Ok(Progress::Advanced)
            }
            r => r,
        }
    }

    async fn step_inner(&self, lock: &WriterLock) -> Result<Progress> {
        lock.ensure_held()?;
        self.metrics
            .writer_lock_held
            .store(i64::from(lock.is_held()), Ordering::Relaxed);
        let cp = db::checkpoint(&self.pool, self.chain_id).await?;
        let Some(latest) = self.head_at_least(cp).await? else {
            self.reorg(cp).await?;
            return Ok(Progress::Advanced);
        };
        let head = latest.number;
        if self.metrics.head_block.swap(head as i64, Ordering::Relaxed) != head as i64 {
            db::set_head(&self.pool, self.chain_id, head).await?;
        }
        let finalized = head as i64 - self.cfg.finality_depth as i64;
        if cp.block < finalized {
            self.backfill(cp, finalized as u64, head, lock).await?;
            return Ok(Progress::Advanced);
        }
        if cp.block == head as i64 {
            if cp.hash.is_none_or(|h| h == latest.hash) {
                return Ok(Progress::Idle);
            }
            self.reorg(cp).await?;
            return Ok(Progress::Advanced);
        }
        self.live(cp, latest, lock).await
    }

    /// The chain head, once it is at or above the checkpoint. A head below the checkpoint is a
    /// lagging RPC backend (behind a load balancer, a node that restarted from an older state)
    /// or a start block ahead of the chain: it is polled again with backoff (100 ms to 5 s),
    /// counted in `head_behind_total` and logged (warn every 5 s, debug otherwise), never rolled
    /// back. Only a head that is a block of our window with another hash than the stored one
    /// (the chain really moved to a shorter fork) is a reorg: then `None`.
    async fn head_at_least(&self, cp: Checkpoint) -> Result<Option<Header>> {
        let mut backoff = Backoff::new();
        let mut logged: Option<Instant> = None;
        loop {
            let latest = self.chain.latest().await?;
            if latest.number as i64 >= cp.block {
                if logged.is_some() {
                    info!(target: "indexer::ingest", head = latest.number, checkpoint = cp.block, "the chain head caught up");
                }
                return Ok(Some(latest));
            }
            if let Some(stored) =
                db::stored_header(&self.pool, self.chain_id, latest.number).await?
                && stored.hash != latest.hash
            {
                info!(target: "indexer::reorg", head = latest.number, checkpoint = cp.block, "the head is a block of another fork: reorg");
                return Ok(None);
            }
            self.metrics
                .head_behind_total
                .fetch_add(1, Ordering::Relaxed);
            if logged.is_none_or(|t| t.elapsed() >= HEAD_WAIT_LOG_EVERY) {
                if cp.hash.is_none() {
                    warn!(target: "indexer::ingest", "start block {} is ahead of the chain head {}: waiting", cp.block + 1, latest.number);
                } else {
                    warn!(target: "indexer::ingest", "the chain head {} is behind the checkpoint {} (a lagging RPC backend?): waiting, no rollback", latest.number, cp.block);
                }
                logged = Some(Instant::now());
            } else {
                debug!(target: "indexer::ingest", head = latest.number, checkpoint = cp.block, "head behind the checkpoint: waiting");
            }
            backoff.wait().await;
        }
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
        match self.chain.header(block).await? {
            Some(h) if h.hash == hash => Ok(true),
            Some(_) => {
                self.reorg(cp).await?;
                Ok(false)
            }
            None => {
                // a backend without our checkpoint block (lagging behind a load balancer): no
                // evidence of a reorg, try again
                self.metrics
                    .head_behind_total
                    .fetch_add(1, Ordering::Relaxed);
                debug!(target: "indexer::ingest", block, "checkpoint block not found (lagging RPC backend?); retrying");
                tokio::time::sleep(self.cfg.poll_interval).await;
                Ok(false)
            }
        }
    }

    /// Backfills final blocks `cp.block + 1 ..= target`: a fetch task walks adaptive ranges
    /// and hands batches to this task, which writes them; at most `pipeline_depth` batches are
    /// in flight, so memory stays bounded whatever the range.
    #[instrument(target = "indexer::ingest", skip_all, fields(from = cp.block + 1, to = target))]
    async fn backfill(
        &self,
        cp: Checkpoint,
        target: u64,
        head: u64,
        lock: &WriterLock,
    ) -> Result<()> {
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
                self.write(&batch?, lock).await?;
            }
            Ok(())
        }
        .await;
        producer.abort();
        result
    }

    /// Indexes new unfinalized blocks after `cp` up to `latest`, checking parent hashes.
    #[instrument(target = "indexer::ingest", skip_all, fields(from = cp.block + 1, head = latest.number))]
    async fn live(&self, cp: Checkpoint, latest: Header, lock: &WriterLock) -> Result<Progress> {
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
                None => {
                    // the chain shrank meanwhile, or a lagging backend answered: the next step
                    // sees which (after a pause, not to spin on the RPC)
                    tokio::time::sleep(self.cfg.poll_interval).await;
                    return Ok(Progress::Advanced);
                }
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
        self.write(&batch, lock).await?;
        Ok(Progress::Advanced)
    }

    /// Finds the fork point by walking the stored window back until a stored hash is the
    /// canonical one, and rolls back to it. Fatal if the window holds no common block.
    #[instrument(target = "indexer::reorg", skip_all, fields(checkpoint = cp.block))]
    async fn reorg(&self, cp: Checkpoint) -> Result<()> {
        let stored = db::stored_headers(&self.pool, self.chain_id).await?;
        let mut oldest = cp.block.max(0) as u64;
        let (mut missing, mut compared) = (0u64, 0u64);
        for h in stored.iter().filter(|h| h.number as i64 <= cp.block) {
            oldest = h.number;
            compared += 1;
            let canonical = self.chain.header(h.number).await?;
            if canonical.is_none() {
                // the node does not have the block (yet): no evidence either way
                missing += 1;
                continue;
            }
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
        if missing > 0 && missing == compared {
            // no block of the window was shown to differ: the node lacks all of them (lagging)
            return Err(Error::Rpc(format!(
                "the RPC node has none of the {missing} stored blocks at or below {}; retrying \
                 the reorg check",
                cp.block
            )));
        }
        Err(Error::ReorgTooDeep {
            finality_depth: self.cfg.finality_depth,
            oldest_checked: oldest,
            indexed_block: cp.block.max(0) as u64,
        })
    }

    /// Writes a batch, retrying database errors with backoff (a commit whose acknowledgement
    /// was lost is recognised by the checkpoint and not applied again).
    async fn write(&self, batch: &Batch, lock: &WriterLock) -> Result<()> {
        let mut backoff = Backoff::new();
        loop {
            lock.ensure_held()?;
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

/// Sets the writer-lock gauge back to 0 when the writer stops (returns or is dropped).
struct LockGauge<'a>(&'a Metrics);

impl Drop for LockGauge<'_> {
    fn drop(&mut self) {
        self.0.writer_lock_held.store(0, Ordering::Relaxed);
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
            // the header of `from` carries the parent hash the batch is planned on (checked
            // against the checkpoint when written); fetched concurrently, once if from == to
            let (fetched, header, first) = tokio::join!(
                fetch_range(&self.chain, from, to, &self.known),
                self.chain.header(to),
                async {
                    if from == to {
                        Ok(None)
                    } else {
                        self.chain.header(from).await.map(Some)
                    }
                }
            );
            let (fetched, header, first) = match (fetched, header, first) {
                (Ok(f), Ok(Some(h)), Ok(None)) => (f, h, None),
                (Ok(f), Ok(Some(h)), Ok(Some(Some(first)))) => (f, h, Some(first)),
                (Err(e), _, _) if e.is_fatal() => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                    warn!(target: "indexer::ingest", from, to, error = %e, "eth_getLogs failed; shrinking range");
                    size = (size / 2).max(1);
                    backoff.wait().await;
                    continue;
                }
                (Ok(_), Ok(None), _) | (Ok(_), _, Ok(Some(None))) => {
                    warn!(target: "indexer::ingest", from, to, "block not found; retrying");
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
                headers: first.into_iter().chain([header]).collect(),
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
