// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryNFT} from "./MemoryNFT.sol";
import {IERC6551Account} from "./interfaces/IERC6551.sol";
import {IMemoryMarket} from "./interfaces/IMemoryMarket.sol";
import {IMemoryNFT} from "./interfaces/IMemoryNFT.sol";
import {ROYALTY_TABLE_WORDS, RoyaltyTable} from "./libraries/RoyaltyTable.sol";
import {IERC721Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {LibERC6551} from "solady/accounts/LibERC6551.sol";

/// @title MemoryMarket
/// @notice Fixed-price ETH market for memory NFTs. The seller keeps the token until the sale and
///         approves the market. A listing gets a unique id, an expiry, and commits to the token's transfer
///         count and its token-bound account's `state()`; the buyer names the listing id it saw and pays
///         its price, so any re-list, transfer or account change in between makes the buy revert. While a
///         listing is live the token's account is locked (no `execute`, no ERC-1271 signatures). A sale
///         pays the token's own royalty to its creator, each ancestor's share of the token's royalty table
///         to that ancestor's ERC-6551 account (so royalty income follows ownership of the ancestor NFT),
///         and the rest to the seller. A recipient that does not take the ETH (reverts or runs out of the
///         PAYOUT_GAS budget) is credited in a pull-payment ledger instead (`withdraw`, `withdrawTo`), so
///         no recipient can block a sale. The market holds at least the credited ETH (`totalOwed`); ETH
///         forced in by SELFDESTRUCT is `surplus()` and belongs to nobody's credit.
/// @dev Ancestor accounts are paid at their registry address even if not created yet: the ETH waits
///      there and belongs to whoever holds the ancestor NFT once the account is created. Attack model and
///      residual risks: docs/contracts.md.
contract MemoryMarket is IMemoryMarket, ReentrancyGuardTransient {
    /// @notice Gas forwarded to each payout recipient (plus the 2300 stipend of a value call).
    uint256 public constant PAYOUT_GAS = 50_000;
    /// @notice Longest a listing can run.
    uint256 public constant MAX_LISTING_DURATION = 180 days;
    /// @notice How many token-bound owners above a contract seller the market follows.
    uint256 public constant MAX_OWNERSHIP_DEPTH = 16;

    /// @notice The memory NFT contract this market trades.
    MemoryNFT public immutable nft;
    /// @notice The ERC-6551 implementation of the NFT's token-bound accounts.
    address public immutable accountImplementation;

    /// @dev One storage word: what `buy` reads and clears. The seller is not stored: while the token's
    ///      transfer count equals the listing's, the token has not moved, so the seller is its owner.
    struct Listing {
        uint96 price;
        uint64 listingId;
        uint64 expiresAt;
        uint32 transferCount;
    }

    mapping(uint256 tokenId => Listing) private _listings;
    /// @dev The account `state()` a listing committed to; zero while the account has no code. Kept apart
    ///      so that a buy of a token whose account was never created (the usual case) neither reads nor
    ///      clears it: an account cannot lose its code, so no code at the sale means none at the listing
    ///      either, and the committed state was zero.
    mapping(uint256 tokenId => uint256) private _listedAccountState;
    /// @dev For a contract seller: the top of its chain of token-bound owners at listing (see `_ownersOf`).
    mapping(uint256 tokenId => address) private _listedSellerRoot;
    mapping(address account => uint256) private _owed;

    /// @notice Sum of the ledger: ETH the market holds for recipients that could not be paid.
    uint256 public totalOwed;
    /// @notice The id of the newest listing (ids start at 1 and never repeat).
    uint256 public lastListingId;

    constructor(MemoryNFT nft_) {
        nft = nft_;
        accountImplementation = nft_.accountImplementation();
    }

    /// @notice Lists `tokenId` for `price` wei until `expiresAt` (re-listing replaces the listing with a new
    ///         id). Caller must own the token and have approved the market for it (or for all). The token's
    ///         account is locked until the listing is bought, cancelled, expired or the token moves.
    /// @return listingId The new listing's id, which a buyer passes to `buy`.
    function list(uint256 tokenId, uint256 price, uint64 expiresAt) external nonReentrant returns (uint256 listingId) {
        if (price == 0) revert ZeroPrice();
        if (price > type(uint96).max) revert PriceTooHigh(price, type(uint96).max);
        // Listings run for days; seconds of validator drift do not matter.
        // forge-lint: disable-next-line(block-timestamp)
        if (expiresAt <= block.timestamp || expiresAt > block.timestamp + MAX_LISTING_DURATION) {
            revert InvalidExpiry(expiresAt, block.timestamp + 1, block.timestamp + MAX_LISTING_DURATION);
        }
        address holder = nft.ownerOf(tokenId);
        if (holder != msg.sender) revert NotTokenOwner(msg.sender, holder);
        if (nft.getApproved(tokenId) != address(this) && !nft.isApprovedForAll(holder, address(this))) {
            revert MarketNotApproved(tokenId);
        }
        // A stale root of an earlier contract seller is never read: only a contract seller's is.
        if (holder.code.length != 0) {
            (address root,) = _ownersOf(holder);
            _listedSellerRoot[tokenId] = root;
        }
        uint256 accountState = _accountState(tokenId);
        // Transfer counts are uint32 in MemoryNFT's record, listing ids a counter far below 2^64.
        // forge-lint: disable-next-line(unsafe-typecast)
        uint32 transferCount = uint32(nft.transferCountOf(tokenId));
        listingId = ++lastListingId;
        _listings[tokenId] = Listing({
            // forge-lint: disable-next-line(unsafe-typecast)
            price: uint96(price), // checked above
            // forge-lint: disable-next-line(unsafe-typecast)
            listingId: uint64(listingId),
            expiresAt: expiresAt,
            transferCount: transferCount
        });
        _listedAccountState[tokenId] = accountState;
        emit Listed(tokenId, listingId, holder, price, expiresAt, transferCount, accountState);
    }

    /// @notice Cancels the listing of `tokenId` (expired, stale or live). The token's current holder can:
    ///         the seller while it still holds the token, whoever holds it after a transfer.
    function cancel(uint256 tokenId) external nonReentrant {
        uint256 listingId = _listings[tokenId].listingId;
        if (listingId == 0) revert NotListed(tokenId);
        address holder = nft.ownerOf(tokenId);
        if (msg.sender != holder) revert NotTokenOwner(msg.sender, holder);
        _clear(tokenId);
        emit ListingCancelled(tokenId, listingId, holder);
    }

    /// @notice Buys listing `listingId` of `tokenId` for exactly its price; the token goes to the caller.
    ///         Reverts with a named error if the listing is not the one the buyer saw, expired, or its
    ///         token, account or (contract) seller changed since it was listed.
    function buy(uint256 tokenId, uint256 listingId) external payable nonReentrant {
        Listing memory l = _listings[tokenId];
        if (l.listingId != listingId) {
            if (l.listingId == 0) revert NotListed(tokenId);
            revert ListingChanged(tokenId, listingId, l.listingId);
        }
        if (msg.value != l.price) revert WrongValue(msg.value, l.price);
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp > l.expiresAt) revert ListingExpired(tokenId, l.expiresAt);
        IMemoryNFT.SaleInfo memory sale = nft.saleInfo(tokenId);
        if (sale.transferCount != l.transferCount) revert ListingStale(tokenId);
        // No transfer since the listing: the token's owner is the seller that listed it.
        address seller = sale.owner;
        if (msg.sender == seller) revert BuyerIsSeller();
        _checkAccountState(tokenId);
        if (seller.code.length != 0) _checkContractSeller(tokenId, seller);

        delete _listings[tokenId];
        // `seller` is not arbitrary: it holds the token, listed it itself (owner check in `list`) and
        // approved this market; the transfer checks that the approval stands.
        // slither-disable-next-line arbitrary-send-erc20
        try nft.transferFrom(seller, msg.sender, tokenId) {}
        catch (bytes memory reason) {
            _revertTransferFailure(tokenId, reason);
        }
        emit Sold(tokenId, seller, msg.sender, msg.value);

        _settle(tokenId, msg.value, seller, sale);
    }

    /// @notice Sends the caller everything credited to it in the ledger.
    function withdraw() external nonReentrant {
        _withdraw(payable(msg.sender));
    }

    /// @notice Sends everything credited to the caller to `to`: for a creator or seller contract that
    ///         cannot receive ETH itself.
    function withdrawTo(address payable to) external nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        _withdraw(to);
    }

    /// @inheritdoc IMemoryMarket
    function isListingLive(uint256 tokenId) public view returns (bool) {
        Listing memory l = _listings[tokenId];
        // forge-lint: disable-next-line(block-timestamp)
        if (l.listingId == 0 || block.timestamp > l.expiresAt) return false;
        // A counter only the NFT's transfers move; equality is the rule (any transfer kills the listing).
        // slither-disable-next-line incorrect-equality
        return nft.transferCountOf(tokenId) == l.transferCount;
    }

    /// @notice The listing of `tokenId` (all zero when not listed). `seller` is the token's holder while
    ///         the token has not moved since the listing (zero once it has: the listing is stale). `live`
    ///         also applies a contract seller's checks, as `buy` does.
    function listingOf(uint256 tokenId) external view returns (ListingView memory v) {
        Listing memory l = _listings[tokenId];
        if (l.listingId == 0) return v;
        v.listingId = l.listingId;
        v.price = l.price;
        v.expiresAt = l.expiresAt;
        v.transferCount = l.transferCount;
        v.accountState = _listedAccountState[tokenId];
        if (nft.transferCountOf(tokenId) != l.transferCount) return v;
        v.seller = nft.ownerOf(tokenId);
        // forge-lint: disable-next-line(block-timestamp)
        v.live = block.timestamp <= l.expiresAt;
        if (v.live && v.seller.code.length != 0) {
            (address root, bool locked) = _ownersOf(v.seller);
            address listedRoot = _listedSellerRoot[tokenId];
            v.live = !locked && root == (listedRoot == address(0) ? v.seller : listedRoot);
        }
    }

    /// @notice ETH credited to `account` in the ledger.
    function owedTo(address account) external view returns (uint256) {
        return _owed[account];
    }

    /// @notice ETH the market holds beyond the ledger (forced in by SELFDESTRUCT or a coinbase reward): it
    ///         is nobody's credit and no function pays it out.
    function surplus() external view returns (uint256) {
        return address(this).balance - totalOwed;
    }

    function _withdraw(address payable to) private {
        uint256 amount = _owed[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        _owed[msg.sender] = 0;
        totalOwed -= amount;
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert WithdrawFailed(to, amount);
        emit Withdrawn(msg.sender, to, amount);
    }

    function _clear(uint256 tokenId) private {
        delete _listings[tokenId];
        if (_listedAccountState[tokenId] != 0) delete _listedAccountState[tokenId];
        if (_listedSellerRoot[tokenId] != address(0)) delete _listedSellerRoot[tokenId];
    }

    /// @dev The account's state must be what the listing committed to (the lock keeps it so; this also
    ///      covers an account created after the listing and then used).
    function _checkAccountState(uint256 tokenId) private {
        address account = _accountOf(tokenId);
        if (account.code.length == 0) return;
        uint256 listedState = _listedAccountState[tokenId];
        uint256 currentState = IERC6551Account(payable(account)).state();
        if (currentState != listedState) revert AccountStateChanged(tokenId, listedState, currentState);
        if (listedState != 0) delete _listedAccountState[tokenId];
    }

    /// @dev A contract seller that is a token-bound account: its owners must be those it had at listing
    ///      (else whoever sold the token above it could buy its assets out), and no token above it may
    ///      have a live listing (that buyer was promised the assets).
    function _checkContractSeller(uint256 tokenId, address seller) private {
        (address root, bool locked) = _ownersOf(seller);
        if (locked) revert SellerAccountLocked(tokenId);
        // No root stored: the seller had no code at listing (an EOA that has since delegated its code,
        // EIP-7702); it is its own root, as it is now unless it became an account, which no EOA can.
        address listedRoot = _listedSellerRoot[tokenId];
        if (root != (listedRoot == address(0) ? seller : listedRoot)) revert SellerOwnerChanged(tokenId);
        if (listedRoot != address(0)) delete _listedSellerRoot[tokenId];
    }

    /// @dev Follows `start`'s owners upward through token-bound accounts (anything answering ERC-6551
    ///      `token()` for a token on this chain) to the first owner that is not one: the root. `locked` is
    ///      true if a token of this NFT on the way has a live listing here.
    function _ownersOf(address start) private view returns (address root, bool locked) {
        root = start;
        for (uint256 depth; depth < MAX_OWNERSHIP_DEPTH; ++depth) {
            // Whether `root` has code at all, not a balance an attacker can nudge.
            // slither-disable-next-line incorrect-equality
            if (root.code.length == 0) return (root, locked);
            // Contract sellers only: the seller chose to be a contract and its owners answer views.
            // slither-disable-next-line calls-loop
            (bool ok, bytes memory ret) = root.staticcall(abi.encodeCall(IERC6551Account.token, ()));
            if (!ok || ret.length < 0x60) return (root, locked);
            (uint256 chainId, address tokenContract, uint256 tokenId) = abi.decode(ret, (uint256, address, uint256));
            // slither-disable-next-line incorrect-equality
            if (chainId != block.chainid || tokenContract.code.length == 0) return (root, locked);
            if (tokenContract == address(nft) && isListingLive(tokenId)) locked = true;
            // slither-disable-next-line calls-loop
            try IERC721(tokenContract).ownerOf(tokenId) returns (address next) {
                root = next;
            } catch {
                return (root, locked);
            }
        }
        revert OwnershipChainTooDeep(MAX_OWNERSHIP_DEPTH);
    }

    /// @dev Splits `price`: the creator's royalty, each ancestor's share to the ancestor's token-bound
    ///      account, the rest to `seller`. A primary sale (the seller is the creator) pays the royalty and
    ///      the rest in one transfer; its `RoyaltyPaid` still reports the royalty part. Events come in
    ///      the same order either way: the creator's `RoyaltyPaid`, then the ancestors'.
    function _settle(uint256 tokenId, uint256 price, address seller, IMemoryNFT.SaleInfo memory sale) private {
        address creator = sale.creator;
        uint256 own = price * sale.royaltyBps / 10_000;
        if (creator == seller) {
            uint256 toSeller = price - _sharesTotal(price, sale.count, sale.table);
            bool credited = _pay(seller, toSeller);
            if (own != 0) emit RoyaltyPaid(tokenId, tokenId, creator, own, credited);
            if (sale.count != 0) _payAncestors(tokenId, price, sale.count, sale.table);
            return;
        }
        uint256 rest = price - own;
        if (own != 0) emit RoyaltyPaid(tokenId, tokenId, creator, own, _pay(creator, own));
        if (sale.count != 0) rest -= _payAncestors(tokenId, price, sale.count, sale.table);
        if (rest != 0) _pay(seller, rest);
    }

    /// @dev What the `count` royalty-table entries take of `price` (each share rounded down, as paid).
    function _sharesTotal(uint256 price, uint256 count, uint256[ROYALTY_TABLE_WORDS] memory table)
        private
        pure
        returns (uint256 total)
    {
        for (uint256 i; i < count; ++i) {
            total += price * RoyaltyTable.shareAt(table, i) / 10_000;
        }
    }

    /// @dev Pays each of the `count` royalty-table entries its share of `price` at the ancestor's
    ///      token-bound account; returns the total.
    function _payAncestors(uint256 tokenId, uint256 price, uint256 count, uint256[ROYALTY_TABLE_WORDS] memory table)
        private
        returns (uint256 paid)
    {
        for (uint256 i; i < count; ++i) {
            (uint256 ancestor, uint256 bps) = RoyaltyTable.entryAt(table, i);
            uint256 share = price * bps / 10_000;
            if (share == 0) continue;
            paid += share;
            address recipient = _accountOf(ancestor);
            emit RoyaltyPaid(tokenId, ancestor, recipient, share, _pay(recipient, share));
        }
    }

    /// @dev Sends `amount` to `to` with PAYOUT_GAS; on failure credits the ledger. Returns true if credited.
    function _pay(address to, uint256 amount) private returns (bool credited) {
        bool ok;
        assembly ("memory-safe") {
            // No return data is copied: a recipient cannot make the sale pay for a large return.
            ok := call(PAYOUT_GAS, to, amount, 0, 0, 0, 0)
        }
        if (ok) return false;
        _owed[to] += amount;
        totalOwed += amount;
        emit Credited(to, amount);
        return true;
    }

    /// @dev Turns a failed sale transfer into the market's error: a seller who revoked the market's
    ///      approval gets `MarketNotApproved`; any other failure (e.g. a buyer account nested under the
    ///      token, `TransferToOwnAccount`) bubbles up as is. The seller is the token's holder (the transfer
    ///      count was checked), so the transfer cannot fail on ownership. Failure path only.
    function _revertTransferFailure(uint256 tokenId, bytes memory reason) private pure {
        // The first four bytes of the revert data: its selector (zero-padded when shorter).
        // forge-lint: disable-next-line(unsafe-typecast)
        bytes4 selector = bytes4(reason);
        if (selector == IERC721Errors.ERC721InsufficientApproval.selector) revert MarketNotApproved(tokenId);
        assembly ("memory-safe") {
            revert(add(reason, 0x20), mload(reason))
        }
    }

    /// @dev The token-bound account's state, 0 while the account has no code.
    function _accountState(uint256 tokenId) private view returns (uint256) {
        address account = _accountOf(tokenId);
        if (account.code.length == 0) return 0;
        return IERC6551Account(payable(account)).state();
    }

    function _accountOf(uint256 tokenId) private view returns (address) {
        return LibERC6551.account(accountImplementation, bytes32(0), block.chainid, address(nft), tokenId);
    }
}
