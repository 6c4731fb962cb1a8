//! Helpers for chain + database tests (feature `test-utils`): spawn a real anvil, deploy the
//! contracts with `scripts/deploy`, drive a scenario with alloy contract calls, and find the
//! test database; [`proxy`] puts a fault-injecting JSON-RPC proxy in front of anvil.

#![allow(
    clippy::unwrap_used,
    missing_docs,
    reason = "test helpers: a failed setup step is a failed test; the helpers are documented where \
              their use is not obvious"
)]

pub mod proxy;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use alloy::network::EthereumWallet;
use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionReceipt;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolEvent};

use crate::bindings::{ERC6551Registry, IMemoryNFT, MemoryAccount, MemoryMarket, MemoryNFT};
use crate::config::{Deployment, Settings};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Installs a tracing subscriber for tests (`RUST_LOG`, captured per test); idempotent.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// The test database server URL from `DATABASE_URL`; panics with instructions when unset
/// (database tests must not silently pass).
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!("DATABASE_URL is not set: start PostgreSQL with `scripts/pg start` and export DATABASE_URL=$(scripts/pg url)")
    })
}

/// The URL of the test database `pool` is connected to: the server (and query, e.g. a unix
/// socket `host=`) of `DATABASE_URL` with the pool's database name, for child processes.
pub fn test_db_url(pool: &sqlx::PgPool) -> String {
    let db = pool
        .connect_options()
        .get_database()
        .unwrap_or("postgres")
        .to_string();
    database_url_named(&db)
}

/// `DATABASE_URL` with its database name replaced by `db` (server and query kept).
pub fn database_url_named(db: &str) -> String {
    let base = database_url();
    let (head, query) = base
        .split_once('?')
        .map_or((base.as_str(), None), |(h, q)| (h, Some(q)));
    let server = head.rsplit_once('/').map_or(head, |(s, _)| s);
    match query {
        Some(q) => format!("{server}/{db}?{q}"),
        None => format!("{server}/{db}"),
    }
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A running anvil with the contracts deployed.
pub struct TestChain {
    pub anvil: AnvilInstance,
    pub chain_id: u64,
    pub deployment: Deployment,
    pub deployment_file: PathBuf,
    /// Provider that signs for every anvil account.
    pub provider: DynProvider,
    /// Anvil's accounts: 0 deployer/owner, 1 certifier, 2.. users.
    pub accounts: Vec<Address>,
    pub certifier: PrivateKeySigner,
}

impl TestChain {
    /// Spawns anvil (from node_modules) with a unique chain id and deploys the contracts with
    /// `scripts/deploy` (account 1 allowed as certifier).
    pub async fn spawn() -> TestChain {
        Self::spawn_with(&[]).await
    }

    /// [`TestChain::spawn`] with extra anvil arguments.
    pub async fn spawn_with(args: &[&str]) -> TestChain {
        let root = repo_root();
        let chain_id = 900_000
            + u64::from(std::process::id() % 50_000) * 16
            + NEXT.fetch_add(1, Ordering::Relaxed) % 16;
        let anvil = Anvil::at(root.join("node_modules/.bin/anvil"))
            .chain_id(chain_id)
            .args(args)
            .spawn();
        let keys: Vec<PrivateKeySigner> = anvil
            .keys()
            .iter()
            .map(|k| PrivateKeySigner::from(k.clone()))
            .collect();
        let accounts = anvil.addresses().to_vec();
        let mut wallet = EthereumWallet::from(keys[0].clone());
        for k in &keys[1..] {
            wallet.register_signer(k.clone());
        }
        // nonces are fetched for every transaction: a reorg drops mined transactions
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(wallet)
            .connect_http(anvil.endpoint_url())
            .erased();
        // scripts/deploy writes anvil/deployments/<chainId>.json; forge runs one at a time
        let status = Command::new("flock")
            .arg(std::env::temp_dir().join("memory-indexer-deploy.lock"))
            .arg(root.join("scripts/deploy"))
            .env("RPC_URL", anvil.endpoint())
            .env("CERTIFIER", accounts[1].to_string())
            .current_dir(&root)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run scripts/deploy");
        assert!(status.success(), "scripts/deploy failed");
        let written = root.join(format!("anvil/deployments/{chain_id}.json"));
        let deployment_file =
            std::env::temp_dir().join(format!("memory-indexer-deployment-{chain_id}.json"));
        std::fs::copy(&written, &deployment_file).expect("copy deployment");
        let _ = std::fs::remove_file(&written);
        let deployment = Deployment::read(&deployment_file).expect("read deployment");
        TestChain {
            anvil,
            chain_id,
            deployment,
            deployment_file,
            provider,
            accounts,
            certifier: keys[1].clone(),
        }
    }

    /// Indexer settings for this chain and `database_url`: finality 64, 20 ms polling.
    pub fn settings(&self, database_url: &str) -> Settings {
        Settings {
            rpc_url: Some(self.anvil.endpoint()),
            deployment: Some(self.deployment_file.clone()),
            database_url: Some(database_url.to_string()),
            finality_depth: Some(64),
            poll_ms: Some(20),
            db_connections: Some(4),
            ..Settings::default()
        }
    }

    pub fn nft(&self) -> MemoryNFT::MemoryNFTInstance<DynProvider> {
        MemoryNFT::new(self.deployment.memory_nft, self.provider.clone())
    }

    pub fn market(&self) -> MemoryMarket::MemoryMarketInstance<DynProvider> {
        MemoryMarket::new(self.deployment.memory_market, self.provider.clone())
    }

    pub fn registry(&self) -> ERC6551Registry::ERC6551RegistryInstance<DynProvider> {
        ERC6551Registry::new(crate::config::CANONICAL_REGISTRY, self.provider.clone())
    }

    /// Mints a W-Matrix memory as `from` (commit, then reveal in the next block); returns the
    /// new token id.
    pub async fn mint(
        &self,
        from: Address,
        seed: u64,
        parents: &[U256],
        create_account: bool,
    ) -> U256 {
        self.mint_to(from, from, seed, parents, create_account)
            .await
    }

    /// [`TestChain::mint`] of a token that goes to `to`.
    pub async fn mint_to(
        &self,
        from: Address,
        to: Address,
        seed: u64,
        parents: &[U256],
        create_account: bool,
    ) -> U256 {
        let checksum = keccak256(seed.to_be_bytes());
        let salt = keccak256(format!("salt {seed}"));
        let nft = self.nft();
        let commitment = nft
            .mintCommitment(checksum, from, salt)
            .call()
            .await
            .expect("mintCommitment");
        self.send(nft.commitMint(commitment).from(from)).await;
        let params = IMemoryNFT::MintParams {
            to,
            checksum,
            kind: 0,
            sourceModel: format!("model-{}", seed % 3),
            targetModel: "model-t".into(),
            version: "1.0.0".into(),
            uri: String::new(),
            royaltyBps: alloy::primitives::Uint::from(500u64),
            parents: parents.to_vec(),
            createAccount: create_account,
            salt,
        };
        let receipt = self.send(nft.mint(params).from(from)).await;
        receipt
            .logs()
            .iter()
            .find_map(|l| MemoryNFT::MemoryMinted::decode_log_data(l.data()).ok())
            .expect("MemoryMinted in the receipt")
            .tokenId
    }

    /// A certificate for `token` signed by the certifier; returns (cert, signature, digest).
    pub async fn certificate(
        &self,
        token: U256,
        epsilon_ppm: u32,
        nonce: u64,
    ) -> (IMemoryNFT::Certificate, Bytes, B256) {
        let nft = self.nft();
        let info = nft.memoryOf(token).call().await.expect("memoryOf");
        let cert = IMemoryNFT::Certificate {
            checksum: info.checksum,
            creator: info.creator,
            certifier: self.certifier.address(),
            testSetChecksum: keccak256(b"test set"),
            epsilonPpm: epsilon_ppm,
            relErrorPpm: 20_000,
            cosinePpm: 990_000,
            euclideanPpm: 1_234,
            testSamples: 128,
            level: 3,
            issuedAt: 1,
            expiresAt: u64::MAX,
            nonce: U256::from(nonce),
        };
        let digest = nft
            .hashCertificate(cert.clone())
            .call()
            .await
            .expect("hashCertificate");
        let sig = self.certifier.sign_hash_sync(&digest).expect("sign");
        (cert, Bytes::from(sig.as_bytes().to_vec()), digest)
    }

    /// Sends a transaction built by `call` and waits for its receipt (which must succeed).
    pub async fn send<N, D>(&self, call: alloy::contract::CallBuilder<N, D>) -> TransactionReceipt
    where
        N: Provider + Clone,
        D: alloy::contract::CallDecoder,
    {
        let receipt = call
            .send()
            .await
            .expect("send")
            .with_timeout(Some(std::time::Duration::from_secs(30)))
            .get_receipt()
            .await
            .expect("receipt");
        assert!(receipt.status(), "transaction reverted");
        receipt
    }

    /// Unix time of the latest block.
    pub async fn now(&self) -> u64 {
        self.provider
            .get_block_by_number(Default::default())
            .await
            .expect("latest block")
            .expect("a latest block")
            .header
            .timestamp
    }

    /// Lists `token` as `from` for `price` wei for a day; returns the listing id.
    pub async fn list(&self, from: Address, token: U256, price: u64) -> U256 {
        let expires = self.now().await + 86_400;
        let receipt = self
            .send(
                self.market()
                    .list(token, U256::from(price), expires)
                    .from(from),
            )
            .await;
        receipt
            .logs()
            .iter()
            .find_map(|l| MemoryMarket::Listed::decode_log_data(l.data()).ok())
            .expect("Listed in the receipt")
            .listingId
    }

    /// Makes the token-bound `account` call `to` with `data` (as the bound token's holder
    /// `holder`).
    pub async fn execute(&self, holder: Address, account: Address, to: Address, data: Vec<u8>) {
        let acc = MemoryAccount::new(account, self.provider.clone());
        self.send(
            acc.execute(to, U256::ZERO, Bytes::from(data), 0)
                .from(holder),
        )
        .await;
    }

    /// Installs a minimal ERC-20 at `at` whose `approve(spender, value)` emits the standard
    /// `Approval(msg.sender, spender, value)` (3 topics) and returns true; it keeps no state.
    pub async fn install_erc20(&self, at: Address) {
        let mut code = vec![
            0x60, 0x24, 0x35, // value = calldataload(36)
            0x60, 0x00, 0x52, // mstore(0, value)
            0x60, 0x04, 0x35, // topic 2: spender = calldataload(4)
            0x33, // topic 1: caller
            0x7f, // topic 0: PUSH32 Approval(address,address,uint256)
        ];
        code.extend_from_slice(MemoryNFT::Approval::SIGNATURE_HASH.as_slice());
        code.extend_from_slice(&[
            0x60, 0x20, 0x60, 0x00, 0xa3, // log3(0, 32, ...)
            0x60, 0x01, 0x60, 0x00, 0x52, // mstore(0, 1)
            0x60, 0x20, 0x60, 0x00, 0xf3, // return(0, 32)
        ]);
        self.set_code(at, code).await;
    }

    /// Installs at `at` a contract that emits whatever it is told: `LOG3(topic0, topic1,
    /// topic2)` with the calldata's first three words as topics and the rest as data.
    pub async fn install_log3_emitter(&self, at: Address) {
        let code = vec![
            0x36, 0x60, 0x60, 0x90, 0x03, // size = calldatasize - 96
            0x80, 0x60, 0x60, 0x60, 0x00, 0x37, // calldatacopy(0, 96, size)
            0x60, 0x40, 0x35, 0x60, 0x20, 0x35, 0x60, 0x00, 0x35, // topics 2, 1, 0
            0x83, 0x60, 0x00, 0xa3, // log3(0, size, ...)
            0x00,
        ];
        self.set_code(at, code).await;
    }

    /// Sends `data` to `to` as `from` (a plain transaction) and waits for its receipt (which
    /// must succeed).
    pub async fn send_raw(&self, from: Address, to: Address, data: Vec<u8>) -> TransactionReceipt {
        let tx = alloy::rpc::types::TransactionRequest::default()
            .from(from)
            .to(to)
            .input(Bytes::from(data).into());
        let receipt = self
            .provider
            .send_transaction(tx)
            .await
            .expect("send")
            .with_timeout(Some(std::time::Duration::from_secs(30)))
            .get_receipt()
            .await
            .expect("receipt");
        assert!(receipt.status(), "transaction reverted");
        receipt
    }

    /// `anvil_setCode`.
    pub async fn set_code(&self, at: Address, code: Vec<u8>) {
        let _: serde_json::Value = self
            .provider
            .raw_request("anvil_setCode".into(), (at, Bytes::from(code)))
            .await
            .expect("anvil_setCode");
    }

    /// Calldata of ERC-20 `approve(spender, value)` (ERC-721's `approve(to, tokenId)` has the
    /// same selector and encoding).
    pub fn approve_erc20(spender: Address, value: U256) -> Vec<u8> {
        MemoryNFT::approveCall {
            to: spender,
            tokenId: value,
        }
        .abi_encode()
    }

    /// Mines `n` empty blocks.
    pub async fn mine(&self, n: u64) {
        let _: serde_json::Value = self
            .provider
            .raw_request("anvil_mine".into(), (U256::from(n), U256::ZERO))
            .await
            .expect("anvil_mine");
    }

    /// Waits (up to 90 s) until the indexer's checkpoint in `pool` is the chain's latest block,
    /// number and hash. Errors while polling (a database or anvil restarting) are retried.
    pub async fn wait_indexed(&self, pool: &sqlx::PgPool) {
        let t = std::time::Instant::now();
        loop {
            let latest = self
                .provider
                .get_block_by_number(Default::default())
                .await
                .ok()
                .flatten();
            let cp = crate::db::checkpoint(pool, self.chain_id).await.ok();
            if let (Some(l), Some(cp)) = (&latest, &cp)
                && cp.block == l.header.number as i64
                && cp.hash == Some(l.header.hash)
            {
                return;
            }
            assert!(
                t.elapsed() < std::time::Duration::from_secs(90),
                "the indexer did not catch up: checkpoint {cp:?}, head {:?}",
                latest.map(|l| l.header.number)
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Replaces the last `depth` blocks with new empty ones (`anvil_reorg`).
    pub async fn reorg(&self, depth: u64) {
        let _: serde_json::Value = self
            .provider
            .raw_request(
                "anvil_reorg".into(),
                (depth, Vec::<serde_json::Value>::new()),
            )
            .await
            .expect("anvil_reorg");
    }

    /// Runs the end-to-end scenario: mints with parents, transfers, account creation,
    /// certificates anchored and revoked, listing, cancellation, a sale with royalties (the
    /// creator's credited to the ledger) and a withdrawal. Returns what it did.
    pub async fn scenario(&self) -> Scenario {
        let a = &self.accounts;
        let (alice, bob, carol, dave, erin) = (a[2], a[3], a[4], a[5], a[9]);
        let nft = self.nft();
        let market = self.market();
        let t1 = self.mint(alice, 1, &[], true).await;
        let t2 = self.mint(bob, 2, &[t1], false).await;
        let t3 = self.mint(carol, 3, &[t1, t2], false).await;
        // account of token 2 created through the registry directly
        self.send(self.registry().createAccount(
            self.deployment.memory_account,
            B256::ZERO,
            U256::from(self.chain_id),
            self.deployment.memory_nft,
            t2,
        ))
        .await;
        // token 1 changes hands
        self.send(nft.transferFrom(alice, dave, t1).from(alice))
            .await;
        // certificates: one stays, one is revoked
        let (c2, s2, d2) = self.certificate(t2, 12_345, 1).await;
        self.send(nft.anchorCertificate(t2, c2, s2)).await;
        let (c3, s3, d3) = self.certificate(t3, 99_000, 2).await;
        self.send(nft.anchorCertificate(t3, c3, s3)).await;
        self.send(nft.revokeCertificate(d3).from(self.accounts[1]))
            .await;
        // carol lists token 3 and cancels, then gives it to erin, who lists it and sells it
        self.send(
            nft.setApprovalForAll(self.deployment.memory_market, true)
                .from(carol),
        )
        .await;
        self.list(carol, t3, 1_000_000).await;
        self.send(market.cancel(t3).from(carol)).await;
        self.send(nft.transferFrom(carol, erin, t3).from(carol))
            .await;
        self.send(
            nft.setApprovalForAll(self.deployment.memory_market, true)
                .from(erin),
        )
        .await;
        let listing = self.list(erin, t3, 2_000_000).await;
        // the creator of token 3 (carol) rejects ETH for a moment: her royalty is credited (a
        // seller with code would make the buy revert: the market checks a contract seller's
        // owners)
        let reject: Bytes = Bytes::from_static(&[0x60, 0x00, 0x60, 0x00, 0xfd]);
        let _: serde_json::Value = self
            .provider
            .raw_request("anvil_setCode".into(), (carol, reject))
            .await
            .expect("setCode");
        self.send(
            market
                .buy(t3, listing)
                .from(bob)
                .value(U256::from(2_000_000u64)),
        )
        .await;
        let _: serde_json::Value = self
            .provider
            .raw_request("anvil_setCode".into(), (carol, Bytes::new()))
            .await
            .expect("setCode");
        self.send(market.withdraw().from(carol)).await;
        // token 2 listed and still open at the end
        self.send(nft.approve(self.deployment.memory_market, t2).from(bob))
            .await;
        self.list(bob, t2, 5_000).await;
        Scenario {
            tokens: vec![t1, t2, t3],
            certificate: d2,
            revoked: d3,
            alice,
            bob,
            carol,
            dave,
            erin,
        }
    }
}

/// What [`TestChain::scenario`] did.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub tokens: Vec<U256>,
    /// Anchored, active certificate (token 2).
    pub certificate: B256,
    /// Anchored then revoked certificate (token 3).
    pub revoked: B256,
    pub alice: Address,
    pub bob: Address,
    pub carol: Address,
    pub dave: Address,
    /// Seller of token 3 (carol, its creator, gave it to her).
    pub erin: Address,
}
