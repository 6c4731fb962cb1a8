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
    /// @dev Revert data of the last re-entry attempt (empty if it succeeded or none was made).
    bytes public reentryError;
    uint256 public reentryAttempts;

    constructor(MemoryMarket market_) {
        market = market_;
    }

    function setMode(Mode mode_, uint256 reenterTokenId_) external {
        mode = mode_;
        reenterTokenId = reenterTokenId_;
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
            try market.buy{value: 0}(reenterTokenId) {}
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
