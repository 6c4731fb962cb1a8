//! Ingestion: backfill over adaptive `eth_getLogs` ranges with fetching pipelined with writing,
//! live follow by polling the head, reorg detection by parent hash and rollback. One writer per
//! chain and database ([`db::WriterLock`]); a head below the checkpoint is waited for, never
//! rolled back.

mod completeness;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256};
use alloy::rpc::types::Log;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tracing::{debug, error, info, instrument, warn};

use crate::approvals;
use crate::config::Config;
use crate::db::{self, Batch, Checkpoint, Header, WriterLock};
use crate::error::{Error, Result};
use crate::events::{self, Contracts, Event, Meta};
use crate::metrics::Metrics;
use crate::rpc::{Block, Chain, Scope};

/// Most blocks one live step covers (each needs its header).
const LIVE_MAX_BLOCKS: u64 = 256;

/// Attempts of one batch that a database error about the data (SQLSTATE class 22 or 23) may
/// fail before it is fatal ([`Error::BatchRejected`]): a few, in case it came from a race.
pub const DATA_ERROR_ATTEMPTS: u32 = 3;

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
        metrics.set_indexed(cp.block);
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
        let Some(latest_block) = self.head_at_least(cp).await? else {
            self.reorg(cp).await?;
            return Ok(Progress::Advanced);
        };
        let latest = latest_block.header;
        let head = latest.number;
        if self.metrics.set_head(head as i64) {
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
        self.live(cp, latest_block, lock).await
    }

    /// The chain head, once it is at or above the checkpoint. A head below the checkpoint is a
    /// lagging RPC backend (behind a load balancer, a node that restarted from an older state)
    /// or a start block ahead of the chain: it is polled again with backoff (100 ms to 5 s),
    /// counted in `head_behind_total` and logged (warn every 5 s, debug otherwise), never rolled
    /// back. Only a head that is a block of our window with another hash than the stored one
    /// (the chain really moved to a shorter fork) is a reorg: then `None`.
    async fn head_at_least(&self, cp: Checkpoint) -> Result<Option<Block>> {
        let mut backoff = Backoff::new();
        let mut logged: Option<Instant> = None;
        loop {
            let block = self.chain.latest_block().await?;
            self.metrics.head_seen();
            let latest = block.header;
            if latest.number as i64 >= cp.block {
                if logged.is_some() {
                    info!(target: "indexer::ingest", head = latest.number, checkpoint = cp.block, "the chain head caught up");
                }
                return Ok(Some(block));
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
            metrics: self.metrics.clone(),
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

    /// Indexes new unfinalized blocks after `cp` up to `latest`, checking parent hashes, and
    /// that the logs are complete and of the headers' blocks ([`completeness`]): blocks in doubt
    /// are fetched again by hash.
    #[instrument(target = "indexer::ingest", skip_all, fields(from = cp.block + 1, head = latest.header.number))]
    async fn live(&self, cp: Checkpoint, latest: Block, lock: &WriterLock) -> Result<Progress> {
        let head = latest.header.number;
        let from = u64::try_from(cp.block + 1).unwrap_or(0);
        let to = head.min(from + LIVE_MAX_BLOCKS - 1);
        let mut set = tokio::task::JoinSet::new();
        for n in from..=to {
            if n == head {
                continue;
            }
            let chain = self.chain.clone();
            set.spawn(async move { chain.block(n).await });
        }
        let known = self.known_accounts(cp).await?;
        let fetched = fetch_range(&self.chain, Scope::Range(from, to), &known, true).await?;
        self.count_duplicates(fetched.duplicates);
        let mut blocks: Vec<Block> = Vec::with_capacity((to - from + 1) as usize);
        if to == head {
            blocks.push(latest);
        }
        while let Some(r) = set.join_next().await {
            match r.map_err(|e| Error::Pipeline(e.to_string()))?? {
                Some(b) => blocks.push(b),
                None => {
                    // the chain shrank meanwhile, or a lagging backend answered: the next step
                    // sees which (after a pause, not to spin on the RPC)
                    tokio::time::sleep(self.cfg.poll_interval).await;
                    return Ok(Progress::Advanced);
                }
            }
        }
        blocks.sort_by_key(|b| b.header.number);
        let first = blocks
            .first()
            .ok_or_else(|| Error::Pipeline("no headers".into()))?;
        if cp.hash.is_some_and(|h| h != first.header.parent_hash) {
            info!(target: "indexer::reorg", block = from, "parent hash mismatch: reorg");
            self.reorg(cp).await?;
            return Ok(Progress::Advanced);
        }
        if blocks
            .windows(2)
            .any(|w| w[1].header.parent_hash != w[0].header.hash)
        {
            debug!(target: "indexer::reorg", "headers changed while fetching; retrying");
            return Ok(Progress::Advanced);
        }
        let Some((events, to)) = self.complete(&blocks, fetched, &known).await? else {
            tokio::time::sleep(self.cfg.poll_interval).await;
            return Ok(Progress::Advanced);
        };
        blocks.truncate((to - from + 1) as usize);
        let headers: Vec<Header> = blocks.iter().map(|b| b.header).collect();
        let mut evs = Vec::with_capacity(events.len());
        for (meta, ev) in events {
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
            finalized: head as i64 - self.cfg.finality_depth as i64,
            head,
        };
        self.write(&batch, lock).await?;
        Ok(Progress::Advanced)
    }

    /// The events of `blocks` (fetched by number as `fetched`, for the accounts `known` before
    /// them), with every block whose logs are in doubt ([`completeness::doubtful`]) fetched
    /// again by hash, and the last block they are complete for: the last of `blocks`, or a
    /// refetched block that creates accounts the range's approvals were not fetched for (the
    /// batch then ends there), or the block before one that could not be fetched by hash (a
    /// backend without it); `None` when that is the first block: the step is retried.
    async fn complete(
        &self,
        blocks: &[Block],
        fetched: Fetched,
        known: &BTreeSet<Address>,
    ) -> Result<Option<(Vec<(Meta, Event)>, u64)>> {
        let last = blocks.last().map_or(0, |b| b.header.number);
        let expected = completeness::Expected::new(
            self.chain.contracts(),
            known.iter().chain(&fetched.created),
        );
        let doubts = completeness::doubtful(blocks, &fetched.raw, &expected);
        if doubts.is_empty() {
            return Ok(Some((fetched.events, last)));
        }
        let redo = completeness::blocks_of(blocks, &doubts);
        self.metrics
            .logs_refetched_total
            .fetch_add(redo.len() as u64, Ordering::Relaxed);
        info!(target: "indexer::ingest", blocks = ?redo.iter().map(|(n, _)| n).collect::<Vec<_>>(), reason = ?doubts[0].1, "logs in doubt (a lagging backend or a reorg between the calls?): fetching the blocks again by hash");
        let originally: BTreeSet<Address> = fetched.created.iter().copied().collect();
        let numbers: BTreeSet<u64> = redo.iter().map(|(n, _)| *n).collect();
        let mut events: Vec<(Meta, Event)> = fetched
            .events
            .into_iter()
            .filter(|(m, _)| !numbers.contains(&m.block_number))
            .collect();
        for (number, hash) in redo {
            // the accounts known before this block: before the range, or created earlier in it
            let before: Vec<(Meta, Event)> = events
                .iter()
                .filter(|(m, _)| m.block_number < number)
                .cloned()
                .collect();
            let mut known_here = known.clone();
            known_here.extend(approvals::created(&before, known).into_keys());
            let again = match fetch_range(&self.chain, Scope::Block(hash), &known_here, false).await
            {
                Ok(f) => f,
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => {
                    debug!(target: "indexer::ingest", block = number, error = %e, "block not served by hash (lagging backend?); retrying");
                    let first = blocks.first().map_or(0, |b| b.header.number);
                    if number == first {
                        return Ok(None);
                    }
                    // the blocks before it are complete: write them, the next step retries it
                    events.retain(|(m, _)| m.block_number < number);
                    events.sort_by_key(|(m, _)| (m.block_number, m.log_index));
                    return Ok(Some((events, number - 1)));
                }
            };
            self.count_duplicates(again.duplicates);
            let surprise = again.created.iter().any(|a| !originally.contains(a));
            events.extend(again.events);
            if surprise && number < last {
                // accounts the range's approval calls did not ask for: end the batch here, the
                // next step fetches the rest knowing them
                events.retain(|(m, _)| m.block_number <= number);
                events.sort_by_key(|(m, _)| (m.block_number, m.log_index));
                return Ok(Some((events, number)));
            }
        }
        events.sort_by_key(|(m, _)| (m.block_number, m.log_index));
        Ok(Some((events, last)))
    }

    fn count_duplicates(&self, n: usize) {
        if n > 0 {
            self.metrics
                .logs_duplicate_total
                .fetch_add(n as u64, Ordering::Relaxed);
            warn!(target: "indexer::ingest", duplicates = n, "the RPC returned a log more than once; deduplicated");
        }
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
                self.metrics.set_indexed(h.number as i64);
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
    /// was lost is recognised by the checkpoint and not applied again). An error about the data
    /// ([`Error::data_sqlstate`]) that persists over [`DATA_ERROR_ATTEMPTS`] attempts is fatal
    /// ([`Error::BatchRejected`]).
    async fn write(&self, batch: &Batch, lock: &WriterLock) -> Result<()> {
        let mut backoff = Backoff::new();
        let mut rejected = 0;
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
                    // a long backfill reads no head for a while: its batches are signs of life
                    self.metrics.head_seen();
                    self.metrics.db_latency.observe(t.elapsed());
                    self.metrics
                        .events_total
                        .fetch_add(n as u64, Ordering::Relaxed);
                    self.metrics.batches_total.fetch_add(1, Ordering::Release);
                    self.metrics.set_indexed(batch.to as i64);
                    info!(target: "indexer::ingest", from = batch.from, to = batch.to, events = n, "batch indexed");
                    return Ok(());
                }
                Err(e @ Error::Db(_)) => {
                    self.metrics.db_errors_total.fetch_add(1, Ordering::Relaxed);
                    if let Some(sqlstate) = e.data_sqlstate() {
                        rejected += 1;
                        if rejected >= DATA_ERROR_ATTEMPTS {
                            let message = match &e {
                                Error::Db(sqlx::Error::Database(d)) => d.message().to_string(),
                                other => other.to_string(),
                            };
                            return Err(Error::BatchRejected {
                                from: batch.from,
                                to: batch.to,
                                sqlstate,
                                message,
                            });
                        }
                    }
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
    /// Decoded events in chain order, each log once.
    events: Vec<(Meta, Event)>,
    /// Raw logs fetched (what the adaptive range sizes on).
    logs: usize,
    /// Accounts the range creates that were not known before it.
    created: Vec<Address>,
    /// The raw logs, when asked for (to check them against the headers), else empty.
    raw: Vec<Log>,
    /// Logs the RPC returned more than once (dropped).
    duplicates: usize,
}

/// Fetches and decodes the events of `scope`: the contracts' logs and, concurrently, the
/// approvals of the accounts `known` before the range; then, if the range creates accounts,
/// their approvals (see [`approvals`]). A log returned twice (same block hash and log index) is
/// kept once, so a provider's duplicate cannot fail the batch on the rows' unique key.
async fn fetch_range(
    chain: &Chain,
    scope: Scope,
    known: &BTreeSet<Address>,
    keep_raw: bool,
) -> Result<Fetched> {
    let owners: Vec<Address> = known.iter().copied().collect();
    let (logs, approval_logs) = tokio::join!(chain.logs(scope), async {
        if owners.is_empty() {
            Ok(Vec::new())
        } else {
            chain.approval_logs(scope, &owners).await
        }
    });
    let (mut logs, mut approval_logs) = (logs?, approval_logs?);
    let mut duplicates = dedup_logs(&mut logs);
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
        approval_logs.extend(chain.approval_logs(scope, &new).await?);
    }
    duplicates += dedup_logs(&mut approval_logs);
    let n = logs.len() + approval_logs.len();
    if !approval_logs.is_empty() {
        let decoded = approval_logs.iter().filter_map(approvals::decode);
        evs.extend(approvals::select(decoded, known, &created));
    }
    evs.sort_by_key(|(m, _)| (m.block_number, m.log_index));
    let raw = if keep_raw {
        logs.append(&mut approval_logs);
        logs
    } else {
        Vec::new()
    };
    Ok(Fetched {
        duplicates,
        events: evs,
        logs: n,
        created: new,
        raw,
    })
}

/// Drops the logs that occur more than once (same block number, hash and log index); returns
/// how many. Logs in chain order without duplicates (the usual answer) are left as they are.
fn dedup_logs(logs: &mut Vec<Log>) -> usize {
    let key = |l: &Log| (l.block_number, l.log_index, l.block_hash);
    if logs.windows(2).all(|w| key(&w[0]) < key(&w[1])) {
        return 0;
    }
    let before = logs.len();
    logs.sort_by_key(key);
    logs.dedup_by_key(|l| key(l));
    before - logs.len()
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
    metrics: Arc<Metrics>,
}

impl Fetcher {
    /// Gives every event without a block timestamp (a node that does not put `blockTimestamp`
    /// in its logs) its block's, from `known` headers or else fetched in batched requests
    /// ([`Chain::headers`]); nothing is fetched when the logs carry them. A header of another
    /// hash than the log's (final blocks should not change) is an error: the range is retried.
    async fn timestamps(&self, evs: &mut [(Meta, Event)], known: &[Header]) -> Result<()> {
        let mut missing: Vec<u64> = evs
            .iter()
            .filter(|(m, _)| m.block_timestamp.is_none())
            .map(|(m, _)| m.block_number)
            .filter(|n| !known.iter().any(|h| h.number == *n))
            .collect();
        if missing.is_empty() && evs.iter().all(|(m, _)| m.block_timestamp.is_some()) {
            return Ok(());
        }
        missing.dedup();
        let mut headers = if missing.is_empty() {
            Default::default()
        } else {
            self.metrics
                .headers_fetched_total
                .fetch_add(missing.len() as u64, Ordering::Relaxed);
            self.chain.headers(&missing).await?
        };
        for h in known {
            headers.insert(h.number, *h);
        }
        for (m, _) in evs.iter_mut().filter(|(m, _)| m.block_timestamp.is_none()) {
            match headers.get(&m.block_number) {
                Some(h) if h.hash == m.block_hash => m.block_timestamp = Some(h.timestamp),
                _ => {
                    return Err(Error::Rpc(format!(
                        "the header of block {} is not the block of its logs",
                        m.block_number
                    )));
                }
            }
        }
        Ok(())
    }

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
                fetch_range(&self.chain, Scope::Range(from, to), &self.known, false),
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
            if fetched.duplicates > 0 {
                self.metrics
                    .logs_duplicate_total
                    .fetch_add(fetched.duplicates as u64, Ordering::Relaxed);
                warn!(target: "indexer::ingest", from, to, duplicates = fetched.duplicates, "the RPC returned a log more than once; deduplicated");
            }
            let mut evs = fetched.events;
            let headers: Vec<Header> = first.into_iter().chain([header]).collect();
            if let Err(e) = self.timestamps(&mut evs, &headers).await {
                if e.is_fatal() {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
                warn!(target: "indexer::ingest", from, to, error = %e, "block headers for timestamps failed; retrying");
                backoff.wait().await;
                continue;
            }
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
                headers,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn log(block: u64, index: u64) -> Log {
        Log {
            block_number: Some(block),
            block_hash: Some(B256::with_last_byte(block as u8)),
            log_index: Some(index),
            ..Log::default()
        }
    }

    #[test]
    fn dedup_logs_keeps_each_log_once_in_chain_order() {
        let mut ordered = vec![log(1, 0), log(1, 1), log(2, 0)];
        assert_eq!(dedup_logs(&mut ordered), 0);
        let mut twice = vec![log(1, 0), log(1, 1), log(2, 0), log(1, 0), log(2, 0)];
        assert_eq!(dedup_logs(&mut twice), 2);
        assert_eq!(twice, ordered);
        // the same position in two forks' blocks is not a duplicate
        let mut forks = vec![log(1, 0), log(1, 0)];
        forks[1].block_hash = Some(B256::repeat_byte(7));
        assert_eq!(dedup_logs(&mut forks), 0);
    }
}
