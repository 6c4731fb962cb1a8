// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IMemoryAccount
/// @notice Events and errors of MemoryAccount, the ERC-6551 token-bound account implementation.
interface IMemoryAccount {
    /// @notice The owner made the account call `to` (the account's state changed to `state`).
    event Executed(address indexed to, uint256 value, bytes4 selector, uint256 state);

    /// @notice The caller is not the owner of the bound token.
    error NotAuthorized(address caller);

    /// @notice The bound token has a live market listing: the account cannot act until it ends.
    error AccountLocked();

    /// @notice Only operation 0 (CALL) is supported.
    error OperationNotSupported(uint8 operation);

    /// @notice Receiving this token would make the account (transitively) own itself.
    error OwnershipCycle();

    /// @notice The chain of token-bound owners above this account is longer than the account checks.
    error OwnershipChainTooDeep(uint256 maxDepth);
}
