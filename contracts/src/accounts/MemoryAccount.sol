// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC6551Account, IERC6551Executable} from "../interfaces/IERC6551.sol";
import {IMemoryAccount} from "../interfaces/IMemoryAccount.sol";
import {IMemoryNFT} from "../interfaces/IMemoryNFT.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {IERC1155Receiver} from "@openzeppelin/contracts/token/ERC1155/IERC1155Receiver.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {IERC721Receiver} from "@openzeppelin/contracts/token/ERC721/IERC721Receiver.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {ERC1271} from "solady/accounts/ERC1271.sol";

/// @title MemoryAccount
/// @notice ERC-6551 token-bound account implementation for memory NFTs (works for any ERC-721). The
///         holder of the bound token controls it: CALL-only `execute`, ERC-1271 signatures by the holder,
///         `isValidSigner`. `state()` increases on every `execute`, so a market listing that committed
///         to it notices when the seller moved assets out. While the bound token has a live market listing
///         (`MemoryNFT.accountLocked`) the account is locked: `execute` reverts, no signature is valid and
///         `isValidSigner` answers no, so neither a call nor a permit can empty what the buyer was shown.
///         Receives ETH, ERC-721 and ERC-1155 tokens and refuses an ERC-721 that would make it
///         (transitively) own itself.
/// @dev Used through the canonical registry's ERC-1167-style proxies, whose code ends with the
///      (salt, chainId, tokenContract, tokenId) footer this contract reads. Not upgradeable.
///      ERC-1271 binds the account into what the holder signs (ERC-7739 nested typed data, Solady's
///      ERC1271): a signature of the holder for one account is not valid for another account it controls.
contract MemoryAccount is
    ERC1271,
    IERC165,
    IERC1271,
    IERC6551Account,
    IERC6551Executable,
    IMemoryAccount,
    IERC721Receiver,
    IERC1155Receiver
{
    /// @notice How many token-bound owners above this account the cycle check follows.
    uint256 public constant MAX_OWNERSHIP_DEPTH = 16;

    uint256 private _state;

    /// @inheritdoc IERC6551Account
    receive() external payable {}

    /// @notice Calls `to` with `value` and `data` from this account. Only the bound token's holder;
    ///         only `operation` 0 (CALL). Bubbles up the callee's revert.
    function execute(address to, uint256 value, bytes calldata data, uint8 operation)
        external
        payable
        returns (bytes memory result)
    {
        (uint256 chainId, address tokenContract, uint256 tokenId) = token();
        if (msg.sender != _ownerOf(chainId, tokenContract, tokenId)) revert NotAuthorized(msg.sender);
        if (operation != 0) revert OperationNotSupported(operation);
        if (_isLocked(chainId, tokenContract, tokenId)) revert AccountLocked();
        uint256 newState = ++_state;
        bool success;
        (success, result) = to.call{value: value}(data);
        if (!success) {
            assembly ("memory-safe") {
                revert(add(result, 0x20), mload(result))
            }
        }
        // The selector (zero-padded when data is shorter than four bytes).
        // forge-lint: disable-next-line(unsafe-typecast)
        emit Executed(to, value, bytes4(data), newState);
    }

    /// @inheritdoc IERC6551Account
    function state() external view returns (uint256) {
        return _state;
    }

    /// @inheritdoc IERC6551Account
    function token() public view returns (uint256 chainId, address tokenContract, uint256 tokenId) {
        bytes memory footer = new bytes(0x60);
        assembly ("memory-safe") {
            extcodecopy(address(), add(footer, 0x20), 0x4d, 0x60)
        }
        return abi.decode(footer, (uint256, address, uint256));
    }

    /// @notice The holder of the bound token; zero on another chain or if the token does not exist.
    function owner() public view returns (address) {
        (uint256 chainId, address tokenContract, uint256 tokenId) = token();
        return _ownerOf(chainId, tokenContract, tokenId);
    }

    /// @notice Whether the account is locked: its bound token has a live listing in the market of the token
    ///         contract (`IMemoryNFT.accountLocked`). Another ERC-721 that does not answer is never locked.
    /// @dev A lock check starved of gas by the caller (63/64 rule) would read as "unlocked", but then the
    ///      caller is left with 1/64 of under ~15k gas: too little for any call that moves an asset.
    function isLocked() public view returns (bool) {
        (uint256 chainId, address tokenContract, uint256 tokenId) = token();
        return _isLocked(chainId, tokenContract, tokenId);
    }

    /// @inheritdoc IERC6551Account
    function isValidSigner(address signer, bytes calldata) external view returns (bytes4) {
        return
            signer != address(0) && signer == owner() && !isLocked()
                ? IERC6551Account.isValidSigner.selector
                : bytes4(0);
    }

    /// @notice ERC-1271: valid if the holder signed `hash` nested in this account's EIP-712 domain
    ///         (ERC-7739 `TypedDataSign` for typed data, `PersonalSign` otherwise) and the account is not
    ///         locked. A plain signature of `hash` by the holder is not valid.
    function isValidSignature(bytes32 hash, bytes calldata signature)
        public
        view
        override(ERC1271, IERC1271)
        returns (bytes4)
    {
        if (owner() == address(0) || isLocked()) return bytes4(0xffffffff);
        return super.isValidSignature(hash, signature);
    }

    /// @inheritdoc IERC721Receiver
    /// @dev Reverts with OwnershipCycle if, now that the token arrived, this account owns itself.
    function onERC721Received(address, address, uint256, bytes calldata) external view returns (bytes4) {
        _checkNoCycle();
        return IERC721Receiver.onERC721Received.selector;
    }

    /// @inheritdoc IERC1155Receiver
    function onERC1155Received(address, address, uint256, uint256, bytes calldata) external pure returns (bytes4) {
        return IERC1155Receiver.onERC1155Received.selector;
    }

    /// @inheritdoc IERC1155Receiver
    function onERC1155BatchReceived(address, address, uint256[] calldata, uint256[] calldata, bytes calldata)
        external
        pure
        returns (bytes4)
    {
        return IERC1155Receiver.onERC1155BatchReceived.selector;
    }

    /// @inheritdoc IERC165
    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == type(IERC165).interfaceId || interfaceId == type(IERC6551Account).interfaceId
            || interfaceId == type(IERC6551Executable).interfaceId || interfaceId == type(IERC721Receiver).interfaceId
            || interfaceId == type(IERC1155Receiver).interfaceId || interfaceId == type(IERC1271).interfaceId;
    }

    /// @dev The signer ERC-1271 checks: the bound token's holder.
    function _erc1271Signer() internal view override returns (address) {
        return owner();
    }

    /// @dev Solady accepts a raw, un-nested signature from its MulticallerWithSigner; here a plain
    ///      signature of the holder is never the account's.
    function _erc1271CallerIsSafe() internal pure override returns (bool) {
        return false;
    }

    /// @dev Solady accepts a raw, un-nested signature in `eth_call`s with gas price 0 (off-chain checks);
    ///      that would make one signature valid for every account of the holder again, so it is off.
    function _erc1271IsValidSignatureViaRPC(bytes32, bytes calldata) internal pure override returns (bool) {
        return false;
    }

    /// @dev The EIP-712 domain of ERC-7739 nesting: name, version, this chain, this account's address.
    function _domainNameAndVersion() internal pure override returns (string memory, string memory) {
        return ("MemoryAccount", "1");
    }

    /// @dev Follows the bound token's owner upward through token-bound accounts (anything answering
    ///      `token()`), at most MAX_OWNERSHIP_DEPTH steps; reverts if it comes back to this account.
    function _checkNoCycle() private view {
        (uint256 chainId, address tokenContract, uint256 tokenId) = token();
        for (uint256 depth; depth < MAX_OWNERSHIP_DEPTH; ++depth) {
            address holder = _ownerOf(chainId, tokenContract, tokenId);
            if (holder == address(this)) revert OwnershipCycle();
            if (holder.code.length == 0) return;
            (bool ok, bytes memory ret) = holder.staticcall(abi.encodeCall(IERC6551Account.token, ()));
            if (!ok || ret.length < 0x60) return;
            (chainId, tokenContract, tokenId) = abi.decode(ret, (uint256, address, uint256));
        }
        revert OwnershipChainTooDeep(MAX_OWNERSHIP_DEPTH);
    }

    function _isLocked(uint256 chainId, address tokenContract, uint256 tokenId) private view returns (bool) {
        if (chainId != block.chainid || tokenContract.code.length == 0) return false;
        (bool ok, bytes memory ret) = tokenContract.staticcall(abi.encodeCall(IMemoryNFT.accountLocked, (tokenId)));
        return ok && ret.length >= 0x20 && abi.decode(ret, (bool));
    }

    function _ownerOf(uint256 chainId, address tokenContract, uint256 tokenId) private view returns (address) {
        if (chainId != block.chainid || tokenContract.code.length == 0) return address(0);
        try IERC721(tokenContract).ownerOf(tokenId) returns (address holder) {
            return holder;
        } catch {
            return address(0);
        }
    }
}
