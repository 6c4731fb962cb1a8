//! What the chain commands share: the connection flags, the connected [`Chain`] (provider,
//! contracts, signer), sending a transaction and reporting it, and turning every failure into
//! one readable line (wrong chain, insufficient funds, reverts with the decoded custom error).

use std::{
    future::Future,
    path::{Path, PathBuf},
    time::Duration,
};

use alloy::{
    contract::{CallBuilder, CallDecoder},
    network::EthereumWallet,
    primitives::{Address, B256, U256, utils::format_ether},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{Filter, Log, TransactionReceipt},
    sol_types::SolEvent,
};
use anyhow::{Context, Result, anyhow, bail};
use memory_bindings::{Deployment, IMemoryNFT, MemoryMarket, MemoryNFT, decode_revert};
use serde_json::{Value, json};

use crate::{output::Output, wallet::KeyArgs};

/// Where the chain and the contracts are.
#[derive(clap::Args, Debug, Clone)]
pub struct ChainArgs {
    /// JSON-RPC endpoint of the chain.
    #[arg(
        long,
        env = "MEMORY_RPC_URL",
        default_value = "http://127.0.0.1:8545",
        value_name = "URL"
    )]
    pub rpc_url: String,
    /// Expected chain id; the command stops if the node reports another one.
    #[arg(long, env = "MEMORY_CHAIN_ID")]
    pub chain_id: Option<u64>,
    /// Deployment record written by scripts/deploy [default: anvil/deployments/<chain id>.json].
    #[arg(long, env = "MEMORY_DEPLOYMENT", value_name = "FILE")]
    pub deployment: Option<PathBuf>,
    /// MemoryNFT address (overrides the deployment record).
    #[arg(long, env = "MEMORY_NFT_ADDRESS", value_name = "ADDRESS")]
    pub nft: Option<Address>,
    /// MemoryMarket address (overrides the deployment record).
    #[arg(long, env = "MEMORY_MARKET_ADDRESS", value_name = "ADDRESS")]
    pub market: Option<Address>,
}

/// Where the indexer's query API is.
#[derive(clap::Args, Debug, Clone)]
pub struct ApiArgs {
    /// Base URL of the indexer's query API.
    #[arg(
        long,
        env = "MEMORY_API_URL",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    pub api_url: String,
}

/// A connected chain: provider (signing when a key was given), chain id and contracts.
pub struct Chain {
    /// The provider.
    pub provider: DynProvider,
    /// Chain id the node reported.
    pub chain_id: u64,
    /// MemoryNFT address.
    pub nft: Address,
    /// MemoryMarket address.
    pub market: Address,
    /// First block to search for logs.
    pub deploy_block: u64,
    /// The signer's address, when a key was given.
    pub from: Option<Address>,
    rpc_url: String,
}

/// One mined transaction, as every chain command reports it.
#[derive(Clone, Debug)]
pub struct TxInfo {
    /// What it did (`mint`, `anchor`, ...).
    pub what: String,
    /// The receipt.
    pub receipt: TransactionReceipt,
}

impl TxInfo {
    /// Transaction hash.
    pub fn hash(&self) -> B256 {
        self.receipt.transaction_hash
    }

    /// `{what, hash, block, gasUsed}`.
    pub fn json(&self) -> Value {
        json!({
            "what": self.what,
            "hash": self.hash().to_string(),
            "block": self.receipt.block_number,
            "gasUsed": self.receipt.gas_used,
        })
    }

    /// Logs of the transaction decoded as event `E`.
    pub fn events<E: SolEvent>(&self) -> Vec<E> {
        self.receipt
            .inner
            .logs()
            .iter()
            .filter_map(|l| l.log_decode::<E>().ok().map(|d| d.inner.data))
            .collect()
    }
}

/// Runs a future to completion on a single-threaded runtime (the commands are sequential).
pub fn block_on<F: Future>(f: F) -> Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(rt.block_on(f))
}

impl ChainArgs {
    /// Connects without a signer (read-only commands).
    pub async fn connect_read(&self) -> Result<Chain> {
        self.connect_inner(None).await
    }

    /// Loads the signer, then connects with it. The key is loaded first so that a wrong
    /// password fails before any network access.
    pub async fn connect_signing(&self, key: &KeyArgs) -> Result<Chain> {
        let signer = key.signer()?;
        self.connect_inner(Some(signer)).await
    }

    async fn connect_inner(
        &self,
        signer: Option<alloy::signers::local::PrivateKeySigner>,
    ) -> Result<Chain> {
        let url: alloy::transports::http::reqwest::Url = self
            .rpc_url
            .parse()
            .map_err(|e| anyhow!("invalid --rpc-url {}: {e}", self.rpc_url))?;
        let from = signer.as_ref().map(alloy::signers::Signer::address);
        let provider = match signer {
            Some(s) => ProviderBuilder::new()
                .wallet(EthereumWallet::from(s))
                .connect_http(url)
                .erased(),
            None => ProviderBuilder::new().connect_http(url).erased(),
        };
        let node_chain = tokio::time::timeout(Duration::from_secs(10), provider.get_chain_id())
            .await
            .map_err(|_| anyhow!("the chain at {} does not answer (10 s)", self.rpc_url))?
            .map_err(|e| anyhow!("cannot reach the chain at {}: {e}", self.rpc_url))?;
        if let Some(expected) = self.chain_id
            && expected != node_chain
        {
            bail!(
                "wrong chain: the node at {} is chain {node_chain}, not chain {expected} (--chain-id)",
                self.rpc_url
            );
        }
        let deployment = self.deployment(node_chain)?;
        if let Some((path, d)) = &deployment
            && d.chain_id != node_chain
        {
            bail!(
                "wrong chain: the deployment record {} is for chain {}, the node at {} is chain {node_chain}",
                path.display(),
                d.chain_id,
                self.rpc_url
            );
        }
        let dep = deployment.as_ref().map(|(_, d)| d);
        let nft = self.nft.or(dep.map(|d| d.memory_nft)).ok_or_else(|| {
            anyhow!(
                "no MemoryNFT address for chain {node_chain}: pass --deployment FILE or --nft ADDRESS"
            )
        })?;
        let market = self.market.or(dep.map(|d| d.memory_market)).ok_or_else(|| {
            anyhow!("no MemoryMarket address for chain {node_chain}: pass --deployment FILE or --market ADDRESS")
        })?;
        let code = provider
            .get_code_at(nft)
            .await
            .map_err(|e| anyhow!("cannot read the code at {nft}: {e}"))?;
        if code.is_empty() {
            bail!(
                "no MemoryNFT contract at {nft} on chain {node_chain} (deployed? see scripts/deploy)"
            );
        }
        Ok(Chain {
            provider,
            chain_id: node_chain,
            nft,
            market,
            deploy_block: dep.map_or(0, |d| d.deploy_block),
            from,
            rpc_url: self.rpc_url.clone(),
        })
    }

    /// The deployment record: `--deployment`, else `anvil/deployments/<chain>.json` when it
    /// exists and no addresses were given.
    fn deployment(&self, chain_id: u64) -> Result<Option<(PathBuf, Deployment)>> {
        let path = match &self.deployment {
            Some(p) => p.clone(),
            None => {
                let p = Path::new("anvil/deployments").join(format!("{chain_id}.json"));
                if (self.nft.is_some() && self.market.is_some()) || !p.is_file() {
                    return Ok(None);
                }
                p
            }
        };
        let d = Deployment::read(&path)?;
        Ok(Some((path, d)))
    }
}

impl Chain {
    /// The MemoryNFT contract.
    pub fn nft(&self) -> MemoryNFT::MemoryNFTInstance<DynProvider> {
        MemoryNFT::new(self.nft, self.provider.clone())
    }

    /// The MemoryMarket contract.
    pub fn market(&self) -> MemoryMarket::MemoryMarketInstance<DynProvider> {
        MemoryMarket::new(self.market, self.provider.clone())
    }

    /// The signer's address (commands that send transactions always have one).
    pub fn sender(&self) -> Result<Address> {
        self.from.context("this command needs a signing key")
    }

    /// Sends the transaction `call` builds, waits for its receipt and prints
    /// `what: tx HASH block N gas G` unless `out` is JSON. Every failure becomes one line.
    pub async fn send<D: CallDecoder>(
        &self,
        what: &str,
        call: CallBuilder<&DynProvider, D>,
        out: Output,
    ) -> Result<TxInfo> {
        let pending = match call.send().await {
            Ok(p) => p,
            Err(e) => return Err(self.explain(what, e).await),
        };
        let hash = *pending.tx_hash();
        let receipt = pending
            .with_timeout(Some(Duration::from_secs(120)))
            .get_receipt()
            .await
            .map_err(|e| anyhow!("{what}: no receipt for transaction {hash}: {e}"))?;
        if !receipt.status() {
            bail!(
                "{what}: transaction {hash} reverted in block {}",
                receipt.block_number.unwrap_or_default()
            );
        }
        let info = TxInfo {
            what: what.to_owned(),
            receipt,
        };
        if !out.json {
            println!(
                "{what}: tx {} block {} gas {}",
                info.hash(),
                info.receipt.block_number.unwrap_or_default(),
                info.receipt.gas_used
            );
        }
        Ok(info)
    }

    /// One readable line for a failed call or transaction: the decoded custom error of a
    /// revert, insufficient funds with the balance, an unreachable node, or the raw error.
    pub async fn explain(&self, what: &str, e: alloy::contract::Error) -> anyhow::Error {
        if let Some(data) = e.as_revert_data() {
            return match decode_revert(&data) {
                Some(r) => {
                    let hint = match r.name.as_str() {
                        "MarketNotApproved" if what.starts_with("buy") => {
                            " (the seller revoked the market's approval after listing)"
                        }
                        "MarketNotApproved" => {
                            " (the market is not approved for this token: use `memory list --approve`)"
                        }
                        "NotCertifier" => " (the signer of the certificate is not a certifier)",
                        "ERC721InsufficientApproval" => {
                            " (the market is no longer approved for this token)"
                        }
                        _ => "",
                    };
                    anyhow!("{what} reverted: {r}{hint}")
                }
                None if data.is_empty() => anyhow!("{what} reverted without a reason"),
                None => anyhow!("{what} reverted with unknown error data {data}"),
            };
        }
        let text = e.to_string();
        let lower = text.to_lowercase();
        if lower.contains("insufficient funds") {
            let who = self.from.unwrap_or_default();
            let balance = self
                .provider
                .get_balance(who)
                .await
                .map(|b| format!("{} ETH", format_ether(b)))
                .unwrap_or_else(|_| "unknown".into());
            return anyhow!(
                "{what}: insufficient funds: {who} (balance {balance}) cannot pay the value plus gas"
            );
        }
        if lower.contains("execution reverted") || lower.contains("revert") {
            return anyhow!("{what} reverted: {}", one_line(&text));
        }
        if lower.contains("error sending request") || lower.contains("connection") {
            return anyhow!(
                "{what}: cannot reach the chain at {}: {}",
                self.rpc_url,
                one_line(&text)
            );
        }
        anyhow!("{what} failed: {}", one_line(&text))
    }

    /// Logs of `E` emitted by `address` with `topic1` (the first indexed argument), from the
    /// deploy block to the head.
    pub async fn logs<E: SolEvent>(&self, address: Address, topic1: B256) -> Result<Vec<Log>> {
        let filter = Filter::new()
            .address(address)
            .event_signature(E::SIGNATURE_HASH)
            .topic1(topic1)
            .from_block(self.deploy_block);
        self.provider
            .get_logs(&filter)
            .await
            .map_err(|e| anyhow!("cannot read {} logs: {e}", E::SIGNATURE))
    }

    /// Fails with a clear line unless `token` exists.
    pub async fn require_token(&self, token: U256) -> Result<IMemoryNFT::MemoryInfo> {
        match self.nft().memoryOf(token).call().await {
            Ok(info) => Ok(info),
            Err(e) => Err(self.explain(&format!("reading token {token}"), e).await),
        }
    }
}

/// The error text on one line.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// A token id: a decimal uint256 (`3`), or `0x` and hex digits.
pub fn parse_token(s: &str) -> Result<U256, String> {
    let t = s.trim();
    let valid = match t.strip_prefix("0x") {
        Some(hex) => !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()),
        None => !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()),
    };
    if !valid {
        return Err(format!("`{s}` is not a token id (a whole number, e.g. 3)"));
    }
    t.parse()
        .map_err(|_| format!("`{s}` is not a token id: larger than a uint256"))
}

/// An ETH amount: `1.5` or `1.5ether` (ether), `20gwei`, `1000wei`.
pub fn parse_amount(s: &str) -> Result<U256, String> {
    let t = s.trim().to_lowercase();
    let (num, unit) = if let Some(n) = t.strip_suffix("ether") {
        (n, "ether")
    } else if let Some(n) = t.strip_suffix("eth") {
        (n, "ether")
    } else if let Some(n) = t.strip_suffix("gwei") {
        (n, "gwei")
    } else if let Some(n) = t.strip_suffix("wei") {
        (n, "wei")
    } else {
        (t.as_str(), "ether")
    };
    let num = num.trim();
    let decimals = match unit {
        "ether" => 18,
        "gwei" => 9,
        _ => 0,
    };
    if num
        .split_once('.')
        .is_some_and(|(_, frac)| frac.len() > decimals)
    {
        return Err(format!("`{s}` has more decimals than a wei"));
    }
    let digits = num.replacen('.', "", 1);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "`{s}` is not an amount (e.g. 0.5, 0.5ether, 20gwei, 1000wei)"
        ));
    }
    alloy::primitives::utils::parse_units(num, unit)
        .map(Into::into)
        .map_err(|e| format!("`{s}` is not an amount ({e}); e.g. 0.5, 0.5ether, 20gwei, 1000wei"))
}

/// Prints the JSON result of a command that sent `txs`, adding them as `transactions`.
pub fn print_json(out: Output, mut value: Value, txs: &[TxInfo]) {
    if let Value::Object(map) = &mut value {
        map.insert(
            "transactions".into(),
            Value::Array(txs.iter().map(TxInfo::json).collect()),
        );
    }
    out.json(&value);
}

/// A token id as the first topic of an event.
pub fn token_topic(token: U256) -> B256 {
    B256::from(token)
}

/// GET `{base}{path}` on the indexer API: `Ok(Some(json))` on 200, `Ok(None)` on 404, an
/// error when the API cannot be reached or answers anything else.
pub async fn api_get(base: &str, path: &str) -> Result<Option<Value>> {
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let client = alloy::transports::http::reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("cannot build the HTTP client")?;
    let resp = client
        .get(&url)
        .send()
        .await
        .map_err(|e| anyhow!("cannot reach the indexer API at {url}: {e}"))?;
    let status = resp.status();
    if status.as_u16() == 404 {
        return Ok(None);
    }
    let text = resp
        .text()
        .await
        .map_err(|e| anyhow!("cannot read the answer of {url}: {e}"))?;
    if !status.is_success() {
        bail!(
            "the indexer API answered {status} for {url}: {}",
            one_line(&text)
        );
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| anyhow!("the indexer API answered invalid JSON for {url}: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        let eth = U256::from(10u64).pow(U256::from(18));
        assert_eq!(parse_amount("1").unwrap(), eth);
        assert_eq!(parse_amount("0.5ether").unwrap(), eth / U256::from(2));
        assert_eq!(parse_amount("2 ETH").unwrap(), eth * U256::from(2));
        assert_eq!(
            parse_amount("20gwei").unwrap(),
            U256::from(20_000_000_000u64)
        );
        assert_eq!(parse_amount("1000wei").unwrap(), U256::from(1000));
        for bad in ["", "-3", "1e99", "1.2.3", "0x10", ".", "one"] {
            let e = parse_amount(bad).unwrap_err();
            assert!(e.contains("is not an amount"), "{bad}: {e}");
        }
        assert!(
            parse_amount("1.5wei")
                .unwrap_err()
                .contains("more decimals than a wei")
        );
    }

    #[test]
    fn token_ids() {
        assert_eq!(parse_token("3").unwrap(), U256::from(3));
        assert_eq!(parse_token("0x10").unwrap(), U256::from(16));
        assert_eq!(parse_token(&U256::MAX.to_string()).unwrap(), U256::MAX);
        for bad in ["", "abc", "-1", "1.5", "0x", "0xzz", "3 4"] {
            let e = parse_token(bad).unwrap_err();
            assert!(
                e.contains("is not a token id (a whole number"),
                "{bad}: {e}"
            );
        }
        let too_big = format!("{}0", U256::MAX);
        assert!(
            parse_token(&too_big)
                .unwrap_err()
                .contains("larger than a uint256")
        );
    }
}
