//! End-to-end ingestion against real anvil + real PostgreSQL: the scenario indexed field by
//! field, reorgs at depths 1, 5 and 64 during live follow, a reorg past finality.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use memory_indexer::Error;
use memory_indexer::db;
use memory_indexer::ingest::Indexer;
use memory_indexer::metrics::Metrics;
use memory_indexer::test_utils::{TestChain, database_url, init_tracing};
use memory_indexer::verify;
use sqlx::PgPool;

async fn indexer(chain: &TestChain, pool: &PgPool, finality: u64) -> Indexer {
    let mut s = chain.settings(&database_url());
    s.finality_depth = Some(finality);
    Indexer::new(
        s.resolve().expect("settings"),
        pool.clone(),
        Arc::new(Metrics::default()),
    )
    .await
    .expect("indexer")
}

async fn assert_verified(pool: &PgPool, ix: &Indexer) {
    let report = verify::verify(pool, ix.chain(), ix.chain_id())
        .await
        .expect("verify");
    assert!(
        report.mismatches.is_empty(),
        "mismatches: {:#?}",
        report.mismatches
    );
    assert!(report.tokens > 0);
}

/// token id, creator, owner, account, source model, royalty bps, parents
type MemoryRow = (
    String,
    Vec<u8>,
    Vec<u8>,
    Option<Vec<u8>>,
    String,
    i32,
    String,
);

fn addr(v: &[u8]) -> Address {
    Address::from_slice(v)
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn scenario_is_indexed_field_by_field(pool: PgPool) -> Result<(), Error> {
    init_tracing();
    let chain = TestChain::spawn().await;
    let s = chain.scenario().await;
    let ix = indexer(&chain, &pool, 64).await;
    let cp = ix.sync().await?;
    assert!(cp.block > 0);
    let cid = chain.chain_id as i64;

    let rows: Vec<MemoryRow> = sqlx::query_as(
        "SELECT token_id::text, creator, owner, account, source_model, royalty_bps, parents::text
         FROM memories WHERE chain_id = $1 ORDER BY token_id",
    )
    .bind(cid)
    .fetch_all(&pool)
    .await?;
    assert_eq!(rows.len(), 3);
    let nft = chain.nft();
    let expect = [
        (s.alice, s.dave, "{}"),
        (s.bob, s.bob, "{1}"),
        (s.carol, s.bob, "{1,2}"),
    ];
    for (r, (creator, owner, parents)) in rows.iter().zip(expect) {
        assert_eq!(addr(&r.1), creator);
        assert_eq!(addr(&r.2), owner);
        assert_eq!(r.5, 500);
        assert_eq!(r.6, parents);
        let id = U256::from_str_radix(&r.0, 10).expect("id");
        let on_chain = nft.accountOf(id).call().await.expect("accountOf");
        // tokens 1 (created at mint) and 2 (created through the registry) have accounts
        assert_eq!(
            r.3.as_deref().map(addr),
            (id != U256::from(3)).then_some(on_chain)
        );
    }
    let transfers: i64 = sqlx::query_scalar("SELECT count(*) FROM transfers WHERE chain_id = $1")
        .bind(cid)
        .fetch_one(&pool)
        .await?;
    assert_eq!(transfers, 6, "3 mints, 2 transfers, 1 sale");
    // transfer counts (the contract's transferCountOf): token 1 once, token 3 twice
    let counts: Vec<i64> = sqlx::query_scalar(
        "SELECT transfer_count FROM memories WHERE chain_id = $1 ORDER BY token_id",
    )
    .bind(cid)
    .fetch_all(&pool)
    .await?;
    assert_eq!(counts, [1, 0, 2]);
    let edges: i64 = sqlx::query_scalar("SELECT count(*) FROM memory_parents WHERE chain_id = $1")
        .bind(cid)
        .fetch_one(&pool)
        .await?;
    assert_eq!(edges, 3);

    let certs: Vec<(Vec<u8>, String, i64, i16, bool, String)> = sqlx::query_as(
        "SELECT digest, token_id::text, epsilon_ppm, level, revoked, expires_at::text FROM certificates
         WHERE chain_id = $1 ORDER BY token_id",
    )
    .bind(cid)
    .fetch_all(&pool)
    .await?;
    assert_eq!(certs.len(), 2);
    assert_eq!(
        (
            certs[0].0.as_slice(),
            certs[0].1.as_str(),
            certs[0].2,
            certs[0].3,
            certs[0].4
        ),
        (s.certificate.as_slice(), "2", 12_345, 3, false)
    );
    assert_eq!(certs[0].5, u64::MAX.to_string());
    assert_eq!(
        (certs[1].0.as_slice(), certs[1].4),
        (s.revoked.as_slice(), true)
    );
    let active: Vec<String> =
        sqlx::query_scalar("SELECT token_id::text FROM active_certificates WHERE chain_id = $1")
            .bind(cid)
            .fetch_all(&pool)
            .await?;
    assert_eq!(active, ["2"]);

    let listings: Vec<(String, String, String, String, i64, bool)> = sqlx::query_as(
        "SELECT token_id::text, price::text, status, listing_id::text, transfer_count,
                expires_at > block_timestamp + 86000
         FROM listings WHERE chain_id = $1 ORDER BY block_number",
    )
    .bind(cid)
    .fetch_all(&pool)
    .await?;
    let listings: Vec<(&str, &str, &str, &str, i64, bool)> = listings
        .iter()
        .map(|(a, b, c, d, e, f)| (a.as_str(), b.as_str(), c.as_str(), d.as_str(), *e, *f))
        .collect();
    // listing ids count up over all tokens; token 3 was listed again after a transfer
    assert_eq!(
        listings,
        [
            ("3", "1000000", "cancelled", "1", 0, true),
            ("3", "2000000", "sold", "2", 1, true),
            ("2", "5000", "open", "3", 0, true)
        ]
    );
    let ids: (String, String) = sqlx::query_as(
        "SELECT (SELECT listing_id::text FROM listing_cancellations WHERE chain_id = $1),
                (SELECT listing_id::text FROM sales WHERE chain_id = $1)",
    )
    .bind(cid)
    .fetch_one(&pool)
    .await?;
    assert_eq!(ids, ("1".to_owned(), "2".to_owned()));
    let creators: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT creator FROM certificates WHERE chain_id = $1 ORDER BY token_id",
    )
    .bind(cid)
    .fetch_all(&pool)
    .await?;
    assert_eq!(
        creators.iter().map(|c| addr(c)).collect::<Vec<_>>(),
        [s.bob, s.carol]
    );
    let sale: (String, Vec<u8>, Vec<u8>, String) = sqlx::query_as(
        "SELECT token_id::text, seller, buyer, price::text FROM sales WHERE chain_id = $1",
    )
    .bind(cid)
    .fetch_one(&pool)
    .await?;
    assert_eq!(
        (
            sale.0.as_str(),
            addr(&sale.1),
            addr(&sale.2),
            sale.3.as_str()
        ),
        ("3", s.erin, s.bob, "2000000")
    );

    // royalties: the creator's 5% (credited: carol rejected ETH) and ancestor shares to accounts
    let pays: Vec<(String, Vec<u8>, String, bool)> = sqlx::query_as(
        "SELECT beneficiary_token_id::text, recipient, amount::text, credited FROM royalty_payments
         WHERE chain_id = $1 ORDER BY log_index",
    )
    .bind(cid)
    .fetch_all(&pool)
    .await?;
    assert!(pays.len() >= 2, "{pays:?}");
    assert_eq!(
        (
            pays[0].0.as_str(),
            addr(&pays[0].1),
            pays[0].2.as_str(),
            pays[0].3
        ),
        ("3", s.carol, "100000", true)
    );
    for p in &pays[1..] {
        let id = U256::from_str_radix(&p.0, 10).expect("id");
        assert_eq!(
            addr(&p.1),
            nft.accountOf(id).call().await.expect("accountOf")
        );
        assert!(!p.3);
    }
    let mismatch: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT beneficiary_token_id, recipient, sum(amount) s, count(*) n FROM royalty_payments
          WHERE chain_id = $1 GROUP BY 1, 2) p
         FULL JOIN (SELECT * FROM royalty_totals WHERE chain_id = $1) t USING (beneficiary_token_id, recipient)
         WHERE p.s IS DISTINCT FROM t.total OR p.n IS DISTINCT FROM t.payments",
    )
    .bind(cid)
    .fetch_one(&pool)
    .await?;
    assert_eq!(mismatch, 0);
    let ledger: (String, String) = sqlx::query_as(
        "SELECT (SELECT sum(amount)::text FROM credits WHERE chain_id = $1 AND account = $2),
                (SELECT sum(amount)::text FROM withdrawals WHERE chain_id = $1 AND account = $2)",
    )
    .bind(cid)
    .bind(s.carol.as_slice())
    .fetch_one(&pool)
    .await?;
    // carol's royalty was credited, then withdrawn (to herself)
    assert_eq!(ledger, ("100000".to_owned(), "100000".to_owned()));
    let to: Vec<u8> = sqlx::query_scalar("SELECT to_address FROM withdrawals WHERE chain_id = $1")
        .bind(cid)
        .fetch_one(&pool)
        .await?;
    assert_eq!(addr(&to), s.carol);
    let certifiers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM certifier_changes WHERE chain_id = $1 AND allowed",
    )
    .bind(cid)
    .fetch_one(&pool)
    .await?;
    assert_eq!(certifiers, 1);
    let ts: Option<i64> =
        sqlx::query_scalar("SELECT min(block_timestamp) FROM transfers WHERE chain_id = $1")
            .bind(cid)
            .fetch_one(&pool)
            .await?;
    assert!(
        ts.is_some_and(|t| t > 1_600_000_000),
        "block timestamps are stored"
    );

    assert_verified(&pool, &ix).await;
    // a second sync changes nothing
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM transfers")
        .fetch_one(&pool)
        .await?;
    assert_eq!(ix.sync().await?, cp);
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM transfers")
        .fetch_one(&pool)
        .await?;
    assert_eq!(before, after);
    Ok(())
}

/// Mints and transfers inside the last `depth` blocks, so a reorg of `depth` drops them.
async fn activity(chain: &TestChain, depth: u64, seed: u64) {
    let a = &chain.accounts;
    let txs = depth.min(4);
    for i in 0..txs {
        let id = chain.mint(a[6], seed * 100 + i, &[], i % 2 == 0).await;
        if i % 2 == 1 {
            chain
                .send(chain.nft().transferFrom(a[6], a[7], id).from(a[6]))
                .await;
        }
    }
    let used = txs + txs / 2;
    if depth > used {
        chain.mine(depth - used).await;
    }
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn reorgs_during_live_follow_leave_no_mismatch(pool: PgPool) -> Result<(), Error> {
    init_tracing();
    let chain = TestChain::spawn().await;
    chain.scenario().await;
    chain.mine(70).await;
    let ix = indexer(&chain, &pool, 64).await;
    let metrics_ix = ix.clone();
    let live = tokio::spawn(async move { metrics_ix.run().await });
    chain.wait_indexed(&pool).await;
    for (round, depth) in [1u64, 5, 64].into_iter().enumerate() {
        activity(&chain, depth, round as u64 + 10).await;
        chain.wait_indexed(&pool).await;
        let before: i64 = sqlx::query_scalar("SELECT count(*) FROM memories")
            .fetch_one(&pool)
            .await?;
        chain.reorg(depth).await;
        chain.wait_indexed(&pool).await;
        let after: i64 = sqlx::query_scalar("SELECT count(*) FROM memories")
            .fetch_one(&pool)
            .await?;
        assert!(
            after < before,
            "depth {depth}: the reorged mints are gone ({before} -> {after})"
        );
        assert_verified(&pool, &ix).await;
        // and the chain goes on after the reorg
        activity(&chain, 2, round as u64 + 20).await;
        chain.wait_indexed(&pool).await;
        assert_verified(&pool, &ix).await;
    }
    assert!(!live.is_finished(), "indexer still running");
    live.abort();
    Ok(())
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn a_reorg_past_finality_stops_the_indexer(pool: PgPool) -> Result<(), Error> {
    init_tracing();
    let chain = TestChain::spawn().await;
    chain.scenario().await;
    let ix = indexer(&chain, &pool, 5).await;
    let runner = ix.clone();
    let live = tokio::spawn(async move { runner.run().await });
    activity(&chain, 12, 1).await;
    chain.wait_indexed(&pool).await;
    let cp = db::checkpoint(&pool, ix.chain_id()).await?;
    chain.reorg(10).await;
    let r = tokio::time::timeout(Duration::from_secs(30), live)
        .await
        .expect("indexer stopped")
        .expect("join");
    assert!(
        matches!(
            r,
            Err(Error::ReorgTooDeep {
                finality_depth: 5,
                ..
            })
        ),
        "{r:?}"
    );
    // nothing was rolled back or written on top
    assert_eq!(db::checkpoint(&pool, ix.chain_id()).await?, cp);
    Ok(())
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn stale_and_expired_listings_stay_open_but_not_live(pool: PgPool) -> Result<(), Error> {
    init_tracing();
    let chain = TestChain::spawn().await;
    let (alice, bob) = (chain.accounts[2], chain.accounts[3]);
    let nft = chain.nft();
    let market = chain.deployment.memory_market;
    let t1 = chain.mint(alice, 1, &[], true).await;
    let t2 = chain.mint(alice, 2, &[], false).await;
    chain
        .send(nft.setApprovalForAll(market, true).from(alice))
        .await;
    // token 1 is listed, then moves: the listing is stale (the market still stores it)
    let l1 = chain.list(alice, t1, 1_000).await;
    chain
        .send(nft.transferFrom(alice, bob, t1).from(alice))
        .await;
    // token 2 is listed for a day, then a day and a minute pass
    let l2 = chain.list(alice, t2, 2_000).await;
    let _: serde_json::Value = chain
        .provider
        .raw_request("evm_increaseTime".into(), [86_460u64])
        .await
        .expect("evm_increaseTime");
    chain.mine(1).await;
    let ix = indexer(&chain, &pool, 64).await;
    ix.sync().await?;
    let live: Vec<(String, String, String, Option<bool>)> = sqlx::query_as(
        "SELECT l.listing_id::text, l.status, encode(l.seller, 'hex'),
                l.expires_at >= s.indexed_timestamp AND l.transfer_count = m.transfer_count
         FROM listings l JOIN memories m USING (chain_id, token_id) JOIN chain_state s USING (chain_id)
         WHERE l.chain_id = $1 ORDER BY l.listing_id",
    )
    .bind(chain.chain_id as i64)
    .fetch_all(&pool)
    .await?;
    let hex = |a: Address| alloy::hex::encode(a);
    assert_eq!(
        live,
        [
            (l1.to_string(), "open".into(), hex(alice), Some(false)),
            (l2.to_string(), "open".into(), hex(alice), Some(false))
        ]
    );
    // the chain agrees: listingOf shows the stale listing without its seller, neither is live
    assert_verified(&pool, &ix).await;
    // the new holder of token 1 cancels the stale listing
    chain.send(chain.market().cancel(t1).from(bob)).await;
    ix.sync().await?;
    let cancelled: (String, Vec<u8>) = sqlx::query_as(
        "SELECT listing_id::text, holder FROM listing_cancellations WHERE chain_id = $1",
    )
    .bind(chain.chain_id as i64)
    .fetch_one(&pool)
    .await?;
    assert_eq!(cancelled, (l1.to_string(), bob.to_vec()));
    assert_verified(&pool, &ix).await;
    Ok(())
}
