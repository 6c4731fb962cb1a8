// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IERC6551Registry
/// @notice The canonical ERC-6551 registry (deployed at 0x000000006551c19487814612e58FE06813775758),
///         as specified by EIP-6551. Its ABI is exported to contracts/abi/ERC6551Registry.json.
interface IERC6551Registry {
    /// @notice An account was created for (chainId, tokenContract, tokenId) with `implementation` and `salt`.
    event ERC6551AccountCreated(
        address account,
        address indexed implementation,
        bytes32 salt,
        uint256 chainId,
        address indexed tokenContract,
        uint256 indexed tokenId
    );

    /// @notice The registry failed to create the account.
    error AccountCreationFailed();

    /// @notice Creates the token-bound account (or returns it if it already exists).
    function createAccount(
        address implementation,
        bytes32 salt,
        uint256 chainId,
        address tokenContract,
        uint256 tokenId
    ) external returns (address account);

    /// @notice The deterministic address of the token-bound account.
    function account(address implementation, bytes32 salt, uint256 chainId, address tokenContract, uint256 tokenId)
        external
        view
        returns (address account);
}

/// @title IERC6551Account
/// @notice The ERC-6551 account interface (ERC-165 id 0x6faff5f1).
interface IERC6551Account {
    /// @notice Accepts Ether.
    receive() external payable;

    /// @notice The token this account is bound to.
    function token() external view returns (uint256 chainId, address tokenContract, uint256 tokenId);

    /// @notice A value that changes every time the account's state changes.
    function state() external view returns (uint256);

    /// @notice Returns the magic value `IERC6551Account.isValidSigner.selector` when `signer` may act.
    function isValidSigner(address signer, bytes calldata context) external view returns (bytes4 magicValue);
}

/// @title IERC6551Executable
/// @notice The ERC-6551 execution interface (ERC-165 id 0x51945447).
interface IERC6551Executable {
    /// @notice Executes `operation` (0 = CALL) to `to` with `value` and `data`.
    function execute(address to, uint256 value, bytes calldata data, uint8 operation)
        external
        payable
        returns (bytes memory);
}
