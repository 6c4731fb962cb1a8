// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryNFT} from "./MemoryNFT.sol";
import {IERC6551Account} from "./interfaces/IERC6551.sol";
import {IMemoryMarket} from "./interfaces/IMemoryMarket.sol";
import {ROYALTY_TABLE_WORDS, RoyaltyTable} from "./libraries/RoyaltyTable.sol";
import {IERC721Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {LibERC6551} from "solady/accounts/LibERC6551.sol";

/// @title MemoryMarket
/// @notice Fixed-price ETH market for memory NFTs. The seller keeps the token until the sale and
///         approves the market. A listing commits to the token-bound account's `state()`; `buy` reverts
///         if it changed (the seller moved assets out of the account after listing). A sale pays the
///         token's own royalty to its creator, each ancestor's share of the token's royalty table to that
///         ancestor's ERC-6551 account (so royalty income follows ownership of the ancestor NFT), and the
///         rest to the seller. A recipient that does not take the ETH (reverts or runs out of the
///         PAYOUT_GAS budget) is credited in a pull-payment ledger instead (`withdraw`), so no recipient
///         can block a sale. The market holds exactly the credited ETH (`totalOwed`).
/// @dev Ancestor accounts are paid at their registry address even if not created yet: the ETH waits
///      there and belongs to whoever holds the ancestor NFT once the account is created.
contract MemoryMarket is IMemoryMarket, ReentrancyGuardTransient {
    /// @notice Gas forwarded to each payout recipient (plus the 2300 stipend of a value call).
    uint256 public constant PAYOUT_GAS = 50_000;

    /// @notice The memory NFT contract this market trades.
    MemoryNFT public immutable nft;
    /// @notice The ERC-6551 implementation of the NFT's token-bound accounts.
    address public immutable accountImplementation;

    /// @dev One storage word: what `buy` always reads and clears.
    struct Listing {
        address seller;
        uint96 price;
    }

    mapping(uint256 tokenId => Listing) private _listings;
    /// @dev The account `state()` a listing committed to; zero while the account has no code. Kept apart
    ///      from `Listing` so that a buy of a token whose account was never created (the usual case)
    ///      neither reads nor clears it: an account cannot lose its code, so no code at the sale means
    ///      none at the listing either, and the committed state was zero.
    mapping(uint256 tokenId => uint256) private _listedAccountState;
    mapping(address account => uint256) private _owed;

    /// @notice Sum of the ledger: ETH the market holds for recipients that could not be paid.
    uint256 public totalOwed;

    constructor(MemoryNFT nft_) {
        nft = nft_;
        accountImplementation = nft_.accountImplementation();
    }

    /// @notice Lists `tokenId` for `price` wei (re-listing replaces the listing). Caller must own the
    ///         token and have approved the market for it (or for all).
    function list(uint256 tokenId, uint256 price) external nonReentrant {
        if (price == 0) revert ZeroPrice();
        if (price > type(uint96).max) revert PriceTooHigh(price, type(uint96).max);
        address holder = nft.ownerOf(tokenId);
        if (holder != msg.sender) revert NotTokenOwner(msg.sender, holder);
        if (nft.getApproved(tokenId) != address(this) && !nft.isApprovedForAll(holder, address(this))) {
            revert MarketNotApproved(tokenId);
        }
        uint256 accountState = _accountState(tokenId);
        // forge-lint: disable-next-line(unsafe-typecast)
        _listings[tokenId] = Listing({seller: holder, price: uint96(price)}); // checked above
        _listedAccountState[tokenId] = accountState;
        emit Listed(tokenId, holder, price, accountState);
    }

    /// @notice Cancels the listing of `tokenId`. Its seller or the token's current holder can.
    function cancel(uint256 tokenId) external nonReentrant {
        address seller = _listings[tokenId].seller;
        if (seller == address(0)) revert NotListed(tokenId);
        if (msg.sender != seller) {
            address holder = nft.ownerOf(tokenId);
            if (msg.sender != holder) revert NotTokenOwner(msg.sender, holder);
        }
        delete _listings[tokenId];
        delete _listedAccountState[tokenId];
        emit ListingCancelled(tokenId, seller);
    }

    /// @notice Buys listed `tokenId` for exactly its price; the token goes to the caller.
    function buy(uint256 tokenId) external payable nonReentrant {
        Listing memory l = _listings[tokenId];
        if (l.seller == address(0)) revert NotListed(tokenId);
        if (msg.value != l.price) revert WrongValue(msg.value, l.price);
        if (msg.sender == l.seller) revert BuyerIsSeller();
        address account = _accountOf(tokenId);
        if (account.code.length != 0) {
            uint256 listedState = _listedAccountState[tokenId];
            uint256 currentState = IERC6551Account(payable(account)).state();
            if (currentState != listedState) revert AccountStateChanged(tokenId, listedState, currentState);
            if (listedState != 0) delete _listedAccountState[tokenId];
        }

        uint256 price = msg.value;
        delete _listings[tokenId];
        // `l.seller` is not arbitrary: it listed the token itself (owner check in `list`) and approved
        // this market; the transfer checks that it still owns the token and that the approval stands.
        // slither-disable-next-line arbitrary-send-erc20
        try nft.transferFrom(l.seller, msg.sender, tokenId) {}
        catch (bytes memory reason) {
            _revertTransferFailure(tokenId, l.seller, reason);
        }
        emit Sold(tokenId, l.seller, msg.sender, price);

        _settle(tokenId, price, l.seller);
    }

    /// @notice Sends the caller everything credited to it in the ledger.
    function withdraw() external nonReentrant {
        uint256 amount = _owed[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        _owed[msg.sender] = 0;
        totalOwed -= amount;
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert WithdrawFailed(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    /// @notice The listing of `tokenId` (seller zero when not listed).
    function listingOf(uint256 tokenId) external view returns (address seller, uint256 price, uint256 accountState) {
        Listing storage l = _listings[tokenId];
        return (l.seller, l.price, _listedAccountState[tokenId]);
    }

    /// @notice ETH credited to `account` in the ledger.
    function owedTo(address account) external view returns (uint256) {
        return _owed[account];
    }

    /// @dev Splits `price`: the creator's royalty, each ancestor's share to the ancestor's token-bound
    ///      account, the rest to `seller`. A primary sale (the seller is the creator) pays the royalty and
    ///      the rest in one transfer; its `RoyaltyPaid` still reports the royalty part. Events come in
    ///      the same order either way: the creator's `RoyaltyPaid`, then the ancestors'.
    function _settle(uint256 tokenId, uint256 price, address seller) private {
        (address creator, uint256 royaltyBps, uint256 count, uint256[ROYALTY_TABLE_WORDS] memory table) =
            nft.saleRoyalties(tokenId);
        uint256 own = price * royaltyBps / 10_000;
        if (creator == seller) {
            uint256 toSeller = price - _sharesTotal(price, count, table);
            bool credited = _pay(seller, toSeller);
            if (own != 0) emit RoyaltyPaid(tokenId, tokenId, creator, own, credited);
            if (count != 0) _payAncestors(tokenId, price, count, table);
            return;
        }
        uint256 rest = price - own;
        if (own != 0) emit RoyaltyPaid(tokenId, tokenId, creator, own, _pay(creator, own));
        if (count != 0) rest -= _payAncestors(tokenId, price, count, table);
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

    /// @dev Turns a failed sale transfer into the market's error: a token that left the seller makes the
    ///      listing stale, a seller who revoked the market's approval gets `MarketNotApproved`; any other
    ///      failure (e.g. a buyer that is the token's own account) bubbles up as is. Failure path only.
    function _revertTransferFailure(uint256 tokenId, address seller, bytes memory reason) private view {
        bytes4 selector = bytes4(reason);
        if (selector == IERC721Errors.ERC721IncorrectOwner.selector) revert ListingStale(tokenId);
        if (selector == IERC721Errors.ERC721InsufficientApproval.selector) {
            // The token checks the approval of its current holder before the `from` address.
            if (nft.ownerOf(tokenId) != seller) revert ListingStale(tokenId);
            revert MarketNotApproved(tokenId);
        }
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
