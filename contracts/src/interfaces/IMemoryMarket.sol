// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IMemoryMarket
/// @notice Events and errors of the fixed-price ETH market for memory NFTs. A sale pays the
///         token's own royalty to its creator, each ancestor's share to the ancestor's
///         ERC-6551 token-bound account, and the rest to the seller; a recipient that cannot
///         take ETH is credited in a pull-payment ledger instead (`withdraw`).
/// @dev Shared definition: the indexer decodes these events.
interface IMemoryMarket {
    /// @notice A token was listed (or re-listed) for `price` wei. `accountState` is the
    ///         token-bound account's `state()` at listing; a buy reverts if it changed.
    event Listed(uint256 indexed tokenId, address indexed seller, uint256 price, uint256 accountState);

    /// @notice A listing was cancelled by its seller.
    event ListingCancelled(uint256 indexed tokenId, address indexed seller);

    /// @notice A listed token was bought.
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

    /// @notice `account` withdrew `amount` wei from the pull-payment ledger.
    event Withdrawn(address indexed account, uint256 amount);

    error ZeroPrice();
    /// @notice Prices are stored as uint96 (about 7.9e10 ETH).
    error PriceTooHigh(uint256 price, uint256 max);
    error NotTokenOwner(address caller, address owner);
    error MarketNotApproved(uint256 tokenId);
    error NotListed(uint256 tokenId);
    error ListingStale(uint256 tokenId);
    error WrongValue(uint256 sent, uint256 price);
    error AccountStateChanged(uint256 tokenId, uint256 listedState, uint256 currentState);
    error BuyerIsSeller();
    error NothingToWithdraw();
    error WithdrawFailed(address account, uint256 amount);
}
