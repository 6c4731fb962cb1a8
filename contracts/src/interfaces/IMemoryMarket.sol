// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IMemoryMarket
/// @notice Types, events and errors of the fixed-price ETH market for memory NFTs. A sale pays the
///         token's own royalty to its creator, each ancestor's share to the ancestor's
///         ERC-6551 token-bound account, and the rest to the seller; a recipient that cannot
///         take ETH is credited in a pull-payment ledger instead (`withdraw`, `withdrawTo`).
/// @dev Shared definition: the indexer decodes these events. A buyer commits to what they saw:
///      `buy(tokenId, listingId)` with `msg.value` equal to the price. Every `list` gets a new
///      listing id (a global counter that never repeats), so a cancel + drain + re-list at the same
///      price in front of a pending buy makes that buy revert. While a listing is live its token's
///      account is locked (MemoryAccount asks MemoryNFT.accountLocked, which asks `isListingLive`).
interface IMemoryMarket {
    /// @notice A listing as stored and as returned by `listingOf` (all zero when there is none).
    struct ListingView {
        /// Unique id of this listing (a new one for every `list`).
        uint256 listingId;
        /// The token's holder while the token has not moved since the listing; zero once it has.
        address seller;
        uint256 price;
        /// Last Unix time at which the listing can be bought.
        uint64 expiresAt;
        /// MemoryNFT.transferCountOf(tokenId) at listing; any transfer since kills the listing.
        uint32 transferCount;
        /// The token-bound account's `state()` at listing (0 while the account has no code).
        uint256 accountState;
        /// True while the listing can be bought: not expired, no transfer since, seller's owners unchanged.
        bool live;
    }

    /// @notice `tokenId` was listed as `listingId` for `price` wei until `expiresAt`, at the token's
    ///         transfer count `transferCount` and its account's state `accountState`.
    event Listed(
        uint256 indexed tokenId,
        uint256 indexed listingId,
        address indexed seller,
        uint256 price,
        uint64 expiresAt,
        uint32 transferCount,
        uint256 accountState
    );

    /// @notice Listing `listingId` of `tokenId` was cancelled by the token's holder `holder` (its seller,
    ///         or whoever holds the token after it moved).
    event ListingCancelled(uint256 indexed tokenId, uint256 indexed listingId, address indexed holder);

    /// @notice The listing of `tokenId` was bought (the token's newest `Listed` names its id).
    event Sold(uint256 indexed tokenId, address indexed seller, address indexed buyer, uint256 price);

    /// @notice Part of a sale's price went to a royalty beneficiary. `beneficiaryTokenId` is the
    ///         sold token itself for the creator's royalty, or an ancestor for an ancestor share
    ///         (then `recipient` is that ancestor's token-bound account). `credited` is true when
    ///         the transfer failed and the amount was credited to the pull-payment ledger.
    event RoyaltyPaid(
        uint256 indexed saleTokenId,
        uint256 indexed beneficiaryTokenId,
        address indexed recipient,
        uint256 amount,
        bool credited
    );

    /// @notice `amount` wei was credited to `account` in the pull-payment ledger.
    event Credited(address indexed account, uint256 amount);

    /// @notice `account` withdrew `amount` wei of its ledger credit, sent to `to`.
    event Withdrawn(address indexed account, address indexed to, uint256 amount);

    /// @notice Whether `tokenId` has a listing that can be bought now (not expired, no transfer since).
    ///         MemoryNFT.accountLocked reads it: the token's account is locked while it is true.
    function isListingLive(uint256 tokenId) external view returns (bool);

    error ZeroPrice();
    /// @notice Prices are stored as uint96 (about 7.9e10 ETH).
    error PriceTooHigh(uint256 price, uint256 max);
    /// @notice A listing must end after now and at most MAX_LISTING_DURATION from now.
    error InvalidExpiry(uint256 expiresAt, uint256 min, uint256 max);
    error NotTokenOwner(address caller, address owner);
    error MarketNotApproved(uint256 tokenId);
    error NotListed(uint256 tokenId);
    /// @notice The token changed hands since it was listed (or its holder revoked nothing but moved it).
    error ListingStale(uint256 tokenId);
    /// @notice The buyer asked for `expected`, the token's listing is now `current` (re-listed or cancelled).
    error ListingChanged(uint256 tokenId, uint256 expected, uint256 current);
    error ListingExpired(uint256 tokenId, uint64 expiresAt);
    /// @notice The seller is a token-bound account whose owners changed since it listed.
    error SellerOwnerChanged(uint256 tokenId);
    /// @notice The seller is a token-bound account that is locked: a token above it has a live listing,
    ///         whose buyer was promised the account's contents.
    error SellerAccountLocked(uint256 tokenId);
    error WrongValue(uint256 sent, uint256 price);
    error AccountStateChanged(uint256 tokenId, uint256 listedState, uint256 currentState);
    error BuyerIsSeller();
    error NothingToWithdraw();
    error WithdrawFailed(address to, uint256 amount);
    error ZeroAddress();
    /// @notice The seller's chain of token-bound owners is deeper than the market follows.
    error OwnershipChainTooDeep(uint256 maxDepth);
}
