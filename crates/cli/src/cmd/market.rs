//! The market commands: `list`, `cancel`, `buy` and `withdraw` (from the market's
//! pull-payment ledger, or royalties out of a token's ERC-6551 account).
//!
//! `buy` commits to what the buyer saw: the listing id (and, with `--price`, the price) it read,
//! which the contract checks; it also refuses while the token's account has live approvals
//! (someone could still pull assets out after the sale) unless `--accept-approvals` is given.

use std::time::Duration;

use alloy::{
    primitives::{Address, Bytes, U256, utils::format_ether},
    providers::Provider,
};
use anyhow::{Context, Result, anyhow, bail};
use memory_bindings::{MemoryAccount, MemoryMarket};
use serde_json::json;

use super::{
    account, approvals,
    chain::{ApiArgs, ChainArgs, block_on, parse_amount, print_json},
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
    /// How long the listing runs: `30d`, `12h`, `90m`, `3600s` (at most 180 days).
    #[arg(long, default_value = "30d", value_parser = parse_duration)]
    pub expires_in: Duration,
    #[command(flatten)]
    pub chain: ChainArgs,
    #[command(flatten)]
    pub key: KeyArgs,
}

/// Arguments of `memory buy`.
#[derive(clap::Args, Debug)]
pub struct BuyArgs {
    /// The listed token.
    #[arg(value_parser = crate::cmd::chain::parse_token)]
    pub token: U256,
    /// The listing id you saw (`memory show`); the buy reverts if the token was re-listed since
    /// [default: the listing read right before sending].
    #[arg(long, value_name = "ID")]
    pub listing: Option<u64>,
    /// The price you expect; refuse if the listing asks another.
    #[arg(long, value_parser = parse_amount)]
    pub price: Option<U256>,
    /// Buy even though the token's account has approvals that let someone pull assets out of it
    /// after the sale.
    #[arg(long)]
    pub accept_approvals: bool,
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub chain: ChainArgs,
    #[command(flatten)]
    pub key: KeyArgs,
}

/// Arguments of `memory cancel`.
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
    /// Receiver of the ETH [default: the signer]. For the market ledger this is `withdrawTo`:
    /// how a creator or seller contract that cannot receive ETH gets its credit out.
    #[arg(long, value_name = "ADDRESS")]
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
        let now = chain
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(|e| anyhow!("cannot read the latest block: {e}"))?
            .context("the node has no latest block")?
            .header
            .timestamp;
        let expires_at = now.saturating_add(args.expires_in.as_secs());
        txs.push(
            chain
                .send("list", market.list(args.token, args.price, expires_at), out)
                .await?,
        );
        let listed = txs
            .last()
            .map(|t| t.events::<MemoryMarket::Listed>())
            .unwrap_or_default();
        let l = listed
            .first()
            .context("the list transaction emitted no Listed event")?;
        if out.json {
            print_json(
                out,
                json!({
                    "tokenId": args.token.to_string(),
                    "listingId": l.listingId.to_string(),
                    "seller": me.to_checksum(None),
                    "priceWei": args.price.to_string(),
                    "expiresAt": l.expiresAt,
                    "transferCount": l.transferCount,
                    "accountState": l.accountState.to_string(),
                }),
                &txs,
            );
        } else {
            println!(
                "listed token {} as listing {} for {} ETH until {} (unix time); its account is locked until the listing ends",
                args.token,
                l.listingId,
                format_ether(args.price),
                l.expiresAt
            );
            println!(
                "  a buyer runs: memory buy {} --listing {}",
                args.token, l.listingId
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

/// Runs `memory buy`: pays exactly the listed price of the listing the buyer names.
pub fn run_buy(args: BuyArgs, out: Output) -> Result<()> {
    block_on(async move {
        let chain = args.chain.connect_signing(&args.key).await?;
        let me = chain.sender()?;
        let market = chain.market();
        let listing = match market.listingOf(args.token).call().await {
            Ok(l) => l,
            Err(e) => return Err(chain.explain("listingOf", e).await),
        };
        if listing.listingId.is_zero() {
            bail!("token {} is not listed", args.token);
        }
        let listing_id = match args.listing {
            Some(id) if U256::from(id) != listing.listingId => bail!(
                "token {} is now listing {} (you asked for listing {id}): it was re-listed or cancelled since; run `memory show {}` and decide again",
                args.token,
                listing.listingId,
                args.token
            ),
            _ => listing.listingId,
        };
        if let Some(p) = args.price
            && p != listing.price
        {
            bail!(
                "listing {listing_id} asks {} ETH, not the {} ETH you expected",
                format_ether(listing.price),
                format_ether(p)
            );
        }
        if !listing.live {
            bail!(
                "listing {listing_id} of token {} cannot be bought: it expired, the token moved, or its seller account's owners changed (see `memory show {}`)",
                args.token,
                args.token
            );
        }
        let acct = account::state(&chain, args.token).await?;
        if acct.deployed {
            let live = approvals::live(&chain, &args.api.api_url, acct.address).await;
            match live {
                Ok(list) if list.is_empty() => {}
                Ok(list) if args.accept_approvals => {
                    for a in &list {
                        eprintln!("warning: {a}");
                    }
                }
                Ok(list) => bail!(
                    "the account {} of token {} has {} live approval(s) that can move its assets after the sale ({}); pass --accept-approvals to buy anyway",
                    acct.address.to_checksum(None),
                    args.token,
                    list.len(),
                    list.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                Err(e) if args.accept_approvals => {
                    eprintln!("warning: the account's approvals were not checked: {e:#}");
                }
                Err(e) => bail!(
                    "cannot check the approvals of the account {} of token {} ({e:#}); pass --accept-approvals to buy without the check",
                    acct.address.to_checksum(None),
                    args.token
                ),
            }
        }
        let price = listing.price;
        let tx = chain
            .send(
                "buy",
                market.buy(args.token, U256::from(listing_id)).value(price),
                out,
            )
            .await?;
        let royalties = tx.events::<MemoryMarket::RoyaltyPaid>();
        if out.json {
            print_json(
                out,
                json!({
                    "tokenId": args.token.to_string(),
                    "listingId": listing_id.to_string(),
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
            let to = args.to.unwrap_or(me);
            let tx = if to == me {
                chain.send("withdraw", market.withdraw(), out).await?
            } else {
                chain.send("withdrawTo", market.withdrawTo(to), out).await?
            };
            if out.json {
                print_json(
                    out,
                    json!({ "from": "ledger", "to": to.to_checksum(None), "amountWei": owed.to_string() }),
                    &[tx],
                );
            } else {
                println!(
                    "withdrew {} ETH from the market ledger to {}",
                    format_ether(owed),
                    to.to_checksum(None)
                );
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

/// Parses a listing duration: a whole number with a unit `s`, `m`, `h` or `d` (`30d`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 30d, 12h, 90m, 3600s)"))?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(|| format!("`{s}` is not a duration (e.g. 30d, 12h, 90m, 3600s)"))?;
    if secs == 0 {
        return Err(format!("`{s}`: a listing must run for some time"));
    }
    if secs > 180 * 86_400 {
        return Err(format!("`{s}`: a listing runs at most 180 days"));
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_parse_with_units_and_bounds() {
        assert_eq!(parse_duration("30d").map(|d| d.as_secs()), Ok(30 * 86_400));
        assert_eq!(parse_duration("90m").map(|d| d.as_secs()), Ok(5_400));
        assert_eq!(parse_duration("12h").map(|d| d.as_secs()), Ok(43_200));
        assert_eq!(parse_duration("3600s").map(|d| d.as_secs()), Ok(3_600));
        for bad in [
            "",
            "d",
            "30",
            "1w",
            "-1d",
            "0s",
            "181d",
            "99999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} should be refused");
        }
    }
}
