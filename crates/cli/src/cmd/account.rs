//! `memory account TOKEN [--create]`: the token's ERC-6551 account (address, whether it
//! exists, balance, who controls it), created on request.

use alloy::{
    primitives::{Address, B256, U256, utils::format_ether},
    providers::Provider,
};
use anyhow::{Result, anyhow};
use memory_bindings::ERC6551Registry;
use serde_json::json;

use super::chain::{Chain, ChainArgs, TxInfo, block_on, print_json};
use crate::{output::Output, wallet::KeyArgs};

/// Arguments of `memory account`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The token.
    #[arg(value_parser = crate::cmd::chain::parse_token)]
    pub token: U256,
    /// Create the account if it does not exist yet (needs a key).
    #[arg(long)]
    pub create: bool,
    #[command(flatten)]
    pub chain: ChainArgs,
    #[command(flatten)]
    pub key: KeyArgs,
}

/// The state of a token's account.
pub struct AccountState {
    /// Its address (deterministic, whether created or not).
    pub address: Address,
    /// Whether the account contract exists.
    pub deployed: bool,
    /// Its ETH balance in wei.
    pub balance: U256,
}

/// Reads the state of `token`'s account.
pub async fn state(chain: &Chain, token: U256) -> Result<AccountState> {
    let nft = chain.nft();
    let address = match nft.accountOf(token).call().await {
        Ok(a) => a,
        Err(e) => return Err(chain.explain("accountOf", e).await),
    };
    let code = chain
        .provider
        .get_code_at(address)
        .await
        .map_err(|e| anyhow!("cannot read the code at {address}: {e}"))?;
    let balance = chain
        .provider
        .get_balance(address)
        .await
        .map_err(|e| anyhow!("cannot read the balance of {address}: {e}"))?;
    Ok(AccountState {
        address,
        deployed: !code.is_empty(),
        balance,
    })
}

/// Creates `token`'s account through the canonical registry.
pub async fn create(chain: &Chain, token: U256, out: Output) -> Result<TxInfo> {
    let nft = chain.nft();
    let implementation = nft
        .accountImplementation()
        .call()
        .await
        .map_err(|e| anyhow!("cannot read the account implementation: {e}"))?;
    let registry_address = nft
        .ERC6551_REGISTRY()
        .call()
        .await
        .map_err(|e| anyhow!("cannot read the registry address: {e}"))?;
    let registry = ERC6551Registry::new(registry_address, chain.provider.clone());
    chain
        .send(
            "create account",
            registry.createAccount(
                implementation,
                B256::ZERO,
                U256::from(chain.chain_id),
                chain.nft,
                token,
            ),
            out,
        )
        .await
}

/// Runs the command.
pub fn run(args: Args, out: Output) -> Result<()> {
    block_on(async move {
        let chain = if args.create {
            args.chain.connect_signing(&args.key).await?
        } else {
            args.chain.connect_read().await?
        };
        chain.require_token(args.token).await?;
        let owner = match chain.nft().ownerOf(args.token).call().await {
            Ok(o) => o,
            Err(e) => return Err(chain.explain("ownerOf", e).await),
        };
        let mut st = state(&chain, args.token).await?;
        let mut txs = Vec::new();
        if args.create && !st.deployed {
            txs.push(create(&chain, args.token, out).await?);
            st = state(&chain, args.token).await?;
        }
        if out.json {
            print_json(
                out,
                json!({
                    "tokenId": args.token.to_string(),
                    "account": st.address.to_checksum(None),
                    "deployed": st.deployed,
                    "balanceWei": st.balance.to_string(),
                    "owner": owner.to_checksum(None),
                }),
                &txs,
            );
        } else {
            println!("token     {}", args.token);
            println!(
                "account   {} ({})",
                st.address.to_checksum(None),
                if st.deployed {
                    "created"
                } else {
                    "not created yet: `memory account --create`"
                }
            );
            println!("balance   {} ETH", format_ether(st.balance));
            println!(
                "owner     {} (controls the account)",
                owner.to_checksum(None)
            );
        }
        Ok(())
    })?
}
