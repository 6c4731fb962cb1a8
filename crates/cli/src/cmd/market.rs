//! The market commands: `list`, `cancel`, `buy` and `withdraw` (from the market's
//! pull-payment ledger, or royalties out of a token's ERC-6551 account).

use alloy::primitives::{Address, Bytes, U256, utils::format_ether};
use anyhow::{Result, anyhow, bail};
use memory_bindings::{MemoryAccount, MemoryMarket};
use serde_json::json;

use super::{
    account,
    chain::{ChainArgs, block_on, parse_amount, print_json},
};
use crate::{output::Output, wallet::KeyArgs};

/// Arguments of `memory list`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// The token to sell.
    #[arg(value_parser = crate::cmd::chain::parse_token)]
    pub token: U256,
    /// Price: `0.5` or `0.5ether`, `20gwei`, `1000wei`.
    #[arg(long, value_parser = parse_amount)]
    pub price: U256,
    /// Approve the market for the token first when it is not approved yet.
    #[arg(long)]
    pub approve: bool,
    #[command(flatten)]
    pub chain: ChainArgs,
    #[command(flatten)]
    pub key: KeyArgs,
}

/// Arguments of `memory cancel` and `memory buy`.
#[derive(clap::Args, Debug)]
pub struct TokenArgs {
    /// The listed token.
    #[arg(value_parser = crate::cmd::chain::parse_token)]
    pub token: U256,
    #[command(flatten)]
    pub chain: ChainArgs,
    #[command(flatten)]
    pub key: KeyArgs,
}

/// Arguments of `memory withdraw`.
#[derive(clap::Args, Debug)]
pub struct WithdrawArgs {
    /// Withdraw the ETH held by this token's ERC-6551 account (its royalty income) instead
    /// of the market ledger; the signer must own the token.
    #[arg(long, value_name = "TOKEN", value_parser = crate::cmd::chain::parse_token)]
    pub account: Option<U256>,
    /// Receiver of the account's ETH [default: the signer].
    #[arg(long, value_name = "ADDRESS", requires = "account")]
    pub to: Option<Address>,
    /// Amount to take out of the account [default: all of it].
    #[arg(long, value_parser = parse_amount, requires = "account")]
    pub amount: Option<U256>,
    #[command(flatten)]
    pub chain: ChainArgs,
    #[command(flatten)]
    pub key: KeyArgs,
}

/// Runs `memory list`.
pub fn run_list(args: ListArgs, out: Output) -> Result<()> {
    block_on(async move {
        let chain = args.chain.connect_signing(&args.key).await?;
        let me = chain.sender()?;
        chain.require_token(args.token).await?;
        let nft = chain.nft();
        let mut txs = Vec::new();
        if args.approve {
            let approved = nft
                .getApproved(args.token)
                .call()
                .await
                .map_err(|e| anyhow!("cannot read the token's approval: {e}"))?;
            let for_all = nft
                .isApprovedForAll(me, chain.market)
                .call()
                .await
                .map_err(|e| anyhow!("cannot read the operator approval: {e}"))?;
            if approved != chain.market && !for_all {
                txs.push(
                    chain
                        .send("approve", nft.approve(chain.market, args.token), out)
                        .await?,
                );
            }
        }
        let market = chain.market();
        txs.push(
            chain
                .send("list", market.list(args.token, args.price), out)
                .await?,
        );
        let listed = txs
            .last()
            .map(|t| t.events::<MemoryMarket::Listed>())
            .unwrap_or_default();
        let state = listed.first().map(|l| l.accountState).unwrap_or_default();
        if out.json {
            print_json(
                out,
                json!({
                    "tokenId": args.token.to_string(),
                    "seller": me.to_checksum(None),
                    "priceWei": args.price.to_string(),
                    "accountState": state.to_string(),
                }),
                &txs,
            );
        } else {
            println!(
                "listed token {} for {} ETH",
                args.token,
                format_ether(args.price)
            );
        }
        Ok(())
    })?
}

/// Runs `memory cancel`.
pub fn run_cancel(args: TokenArgs, out: Output) -> Result<()> {
    block_on(async move {
        let chain = args.chain.connect_signing(&args.key).await?;
        let market = chain.market();
        let tx = chain.send("cancel", market.cancel(args.token), out).await?;
        if out.json {
            print_json(out, json!({ "tokenId": args.token.to_string() }), &[tx]);
        } else {
            println!("cancelled the listing of token {}", args.token);
        }
        Ok(())
    })?
}

/// Runs `memory buy`: pays exactly the listed price.
pub fn run_buy(args: TokenArgs, out: Output) -> Result<()> {
    block_on(async move {
        let chain = args.chain.connect_signing(&args.key).await?;
        let me = chain.sender()?;
        let market = chain.market();
        let listing = match market.listingOf(args.token).call().await {
            Ok(l) => l,
            Err(e) => return Err(chain.explain("listingOf", e).await),
        };
        // Not listed: the call below reverts with the market's NotListed error.
        let price = listing.price;
        let tx = chain
            .send("buy", market.buy(args.token).value(price), out)
            .await?;
        let royalties = tx.events::<MemoryMarket::RoyaltyPaid>();
        if out.json {
            print_json(
                out,
                json!({
                    "tokenId": args.token.to_string(),
                    "buyer": me.to_checksum(None),
                    "seller": listing.seller.to_checksum(None),
                    "priceWei": price.to_string(),
                    "royalties": royalties.iter().map(|r| json!({
                        "beneficiaryTokenId": r.beneficiaryTokenId.to_string(),
                        "recipient": r.recipient.to_checksum(None),
                        "amountWei": r.amount.to_string(),
                        "credited": r.credited,
                    })).collect::<Vec<_>>(),
                }),
                &[tx],
            );
        } else {
            println!(
                "bought token {} from {} for {} ETH",
                args.token,
                listing.seller.to_checksum(None),
                format_ether(price)
            );
            for r in &royalties {
                let whom = if r.beneficiaryTokenId == args.token {
                    "creator royalty".to_owned()
                } else {
                    format!("ancestor {} account", r.beneficiaryTokenId)
                };
                println!(
                    "  royalty {} ETH -> {} ({whom}{})",
                    format_ether(r.amount),
                    r.recipient.to_checksum(None),
                    if r.credited {
                        ", credited to the ledger"
                    } else {
                        ""
                    }
                );
            }
        }
        Ok(())
    })?
}

/// Runs `memory withdraw`.
pub fn run_withdraw(args: WithdrawArgs, out: Output) -> Result<()> {
    block_on(async move {
        let chain = args.chain.connect_signing(&args.key).await?;
        let me = chain.sender()?;
        let Some(token) = args.account else {
            let market = chain.market();
            let owed = market
                .owedTo(me)
                .call()
                .await
                .map_err(|e| anyhow!("cannot read the ledger: {e}"))?;
            // Nothing owed: the call reverts with the market's NothingToWithdraw error.
            let tx = chain.send("withdraw", market.withdraw(), out).await?;
            if out.json {
                print_json(
                    out,
                    json!({ "from": "ledger", "to": me.to_checksum(None), "amountWei": owed.to_string() }),
                    &[tx],
                );
            } else {
                println!("withdrew {} ETH from the market ledger", format_ether(owed));
            }
            return Ok(());
        };
        chain.require_token(token).await?;
        let mut txs = Vec::new();
        let mut st = account::state(&chain, token).await?;
        let amount = args.amount.unwrap_or(st.balance);
        if amount.is_zero() {
            bail!(
                "the account {} of token {token} holds no ETH to withdraw",
                st.address.to_checksum(None)
            );
        }
        if amount > st.balance {
            bail!(
                "the account {} of token {token} holds {} ETH, less than {} ETH",
                st.address.to_checksum(None),
                format_ether(st.balance),
                format_ether(amount)
            );
        }
        if !st.deployed {
            // Creating the account for someone else's token would only spend gas: check first.
            let owner = match chain.nft().ownerOf(token).call().await {
                Ok(o) => o,
                Err(e) => return Err(chain.explain("ownerOf", e).await),
            };
            if owner != me {
                bail!(
                    "{} does not own token {token} (its owner {} controls the account)",
                    me.to_checksum(None),
                    owner.to_checksum(None)
                );
            }
            txs.push(account::create(&chain, token, out).await?);
            st = account::state(&chain, token).await?;
        }
        let to = args.to.unwrap_or(me);
        let acct = MemoryAccount::new(st.address, chain.provider.clone());
        txs.push(
            chain
                .send("withdraw", acct.execute(to, amount, Bytes::new(), 0), out)
                .await?,
        );
        if out.json {
            print_json(
                out,
                json!({
                    "from": st.address.to_checksum(None),
                    "tokenId": token.to_string(),
                    "to": to.to_checksum(None),
                    "amountWei": amount.to_string(),
                }),
                &txs,
            );
        } else {
            println!(
                "withdrew {} ETH from the account {} of token {token} to {}",
                format_ether(amount),
                st.address.to_checksum(None),
                to.to_checksum(None)
            );
        }
        Ok(())
    })?
}
