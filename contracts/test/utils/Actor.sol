// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryMarket} from "../../src/MemoryMarket.sol";

/// @notice A contract wallet used as seller, creator or buyer in market tests. Its `mode` decides what
///         happens when ETH arrives: accept, revert, burn all gas, or try to re-enter the market.
contract Actor {
    enum Mode {
        Accept,
        Revert,
        BurnGas,
        Reenter
    }

    Mode public mode;
    MemoryMarket public market;
    uint256 public reenterTokenId;
    /// @dev The listing of `reenterTokenId` when the mode was set (read then: the payout's gas is short).
    uint256 public reenterListingId;
    /// @dev Revert data of the last re-entry attempt (empty if it succeeded or none was made).
    bytes public reentryError;
    uint256 public reentryAttempts;

    constructor(MemoryMarket market_) {
        market = market_;
    }

    function setMode(Mode mode_, uint256 reenterTokenId_) external {
        mode = mode_;
        reenterTokenId = reenterTokenId_;
        if (mode_ == Mode.Reenter) reenterListingId = market.listingOf(reenterTokenId_).listingId;
    }

    /// @dev Calls anything as this contract (the test drives it like an EOA).
    function exec(address target, uint256 value, bytes calldata data) external payable returns (bytes memory) {
        (bool ok, bytes memory ret) = target.call{value: value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        return ret;
    }

    receive() external payable {
        if (mode == Mode.Revert) revert("no ETH please");
        if (mode == Mode.BurnGas) {
            while (true) {}
        }
        if (mode == Mode.Reenter) {
            ++reentryAttempts;
            try market.buy{value: 0}(reenterTokenId, reenterListingId) {}
            catch (bytes memory err) {
                reentryError = err;
            }
            try market.withdraw() {}
            catch (bytes memory err) {
                reentryError = err;
            }
        }
    }

    function onERC721Received(address, address, uint256, bytes calldata) external pure returns (bytes4) {
        return this.onERC721Received.selector;
    }
}

/// @notice A contract wallet that answers ERC-6551 `token()` with whatever it is told: a seller or recipient
///         that claims to be bound to a token on another chain, or to a token that does not exist. The
///         ownership walks of MemoryNFT and MemoryMarket must stop at it rather than fail.
contract BoundElsewhere {
    uint256 internal _chainId;
    address internal _tokenContract;
    uint256 internal _tokenId;

    function bindTo(uint256 chainId, address tokenContract, uint256 tokenId) external {
        (_chainId, _tokenContract, _tokenId) = (chainId, tokenContract, tokenId);
    }

    function token() external view returns (uint256, address, uint256) {
        return (_chainId, _tokenContract, _tokenId);
    }

    /// @dev Calls anything as this contract.
    function exec(address target, bytes calldata data) external returns (bytes memory) {
        (bool ok, bytes memory ret) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        return ret;
    }

    receive() external payable {}
}
