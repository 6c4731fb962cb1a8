// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryNFT} from "../../src/MemoryNFT.sol";
import {VM, Vm} from "../../test/utils/Vm.sol";
import {BenchBatch} from "./BenchBatch.sol";

/// @title GenerateEvents
/// @notice Fills a chain with at least EVENTS MemoryNFT events for the indexer benchmark:
///         MINTS memories (every 10th derived from its predecessor), then ping-pong transfers
///         in transactions of at most PER_TX transfers. Run by scripts/bench-indexer.
/// @dev Environment: NFT (MemoryNFT address), EVENTS (default 100000), MINTS (default 1000),
///      PER_TX (default 600), PRIVATE_KEY (default: anvil account 0).
contract GenerateEvents {
    Vm internal constant vm = VM;
    uint256 internal constant ANVIL_KEY_0 = 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80;

    function run() external {
        uint256 key = vm.envOr("PRIVATE_KEY", ANVIL_KEY_0);
        MemoryNFT nft = MemoryNFT(vm.envOr("NFT", address(0)));
        uint256 events = vm.envOr("EVENTS", uint256(100_000));
        uint256 mints = vm.envOr("MINTS", uint256(1000));
        uint256 perTx = vm.envOr("PER_TX", uint256(600));

        vm.startBroadcast(key);
        BenchBatch batch = new BenchBatch(nft);
        uint256 first;
        for (uint256 done; done < mints; done += 50) {
            batch.commitMany(mints - done < 50 ? mints - done : 50, done);
        }
        vm.roll(block.number + 1); // the simulation's view of the next block (each broadcast tx gets its own)
        for (uint256 done; done < mints; done += 50) {
            uint256 n = mints - done < 50 ? mints - done : 50;
            uint256 f = batch.mintMany(n, done, 10);
            if (done == 0) first = f;
        }
        uint256 total = 2 * mints;
        // each round trip of one token is 2 events; a transaction moves `perTx / 2` tokens once
        uint256 tokensPerTx = perTx / 2 < mints ? perTx / 2 : mints;
        uint256 next = first;
        while (total < events) {
            if (next + tokensPerTx > first + mints) next = first;
            batch.pingPong(next, tokensPerTx, 1);
            next += tokensPerTx;
            total += 2 * tokensPerTx;
        }
        vm.stopBroadcast();
    }
}
