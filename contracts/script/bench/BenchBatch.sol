// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryNFT} from "../../src/MemoryNFT.sol";
import {IMemoryNFT} from "../../src/interfaces/IMemoryNFT.sol";

/// @title BenchPeer
/// @notice Second holder for {BenchBatch}: lets the batch contract move its tokens back.
contract BenchPeer {
    constructor(MemoryNFT nft, address operator) {
        nft.setApprovalForAll(operator, true);
    }
}

/// @title BenchBatch
/// @notice Event generator for the indexer benchmark (scripts/bench-indexer), not part of the
///         protocol: mints memories and moves them between itself and a peer in bulk, so a few
///         transactions produce many real MemoryNFT events (MemoryMinted and ERC-721 Transfer).
contract BenchBatch {
    MemoryNFT public immutable NFT;
    BenchPeer public immutable PEER;

    constructor(MemoryNFT nft) {
        NFT = nft;
        PEER = new BenchPeer(nft, address(this));
    }

    /// @notice Commits to the `count` mints of `mintMany(count, seed, ...)` (step 1 of the commit-reveal
    ///         mint: one MintCommitted event each); `mintMany` can run from the next block on.
    function commitMany(uint256 count, uint256 seed) external {
        for (uint256 i; i < count; ++i) {
            NFT.commitMint(NFT.mintCommitment(keccak256(abi.encode(seed, i)), address(this), bytes32(0)));
        }
    }

    /// @notice Mints `count` W-Matrix memories to this contract (2 events each) after `commitMany`;
    ///         `parentEvery` > 0 gives every such token the previous token as parent.
    /// @return first The first new token id.
    function mintMany(uint256 count, uint256 seed, uint256 parentEvery) external returns (uint256 first) {
        uint256[] memory none = new uint256[](0);
        for (uint256 i; i < count; ++i) {
            uint256[] memory parents = none;
            if (parentEvery != 0 && i != 0 && i % parentEvery == 0) {
                parents = new uint256[](1);
                parents[0] = first + i - 1;
            }
            uint256 id = NFT.mint(
                IMemoryNFT.MintParams({
                    to: address(this),
                    checksum: keccak256(abi.encode(seed, i)),
                    kind: IMemoryNFT.MemoryKind.WMatrix,
                    sourceModel: "bench/source-model",
                    targetModel: "bench/target-model",
                    version: "1.0.0",
                    uri: "",
                    royaltyBps: 100,
                    parents: parents,
                    createAccount: false,
                    salt: bytes32(0)
                })
            );
            if (i == 0) first = id;
        }
    }

    /// @notice Moves each token of `first .. first + count - 1` to the peer and back `rounds`
    ///         times: `2 * count * rounds` Transfer events.
    function pingPong(uint256 first, uint256 count, uint256 rounds) external {
        address peer = address(PEER);
        for (uint256 r; r < rounds; ++r) {
            for (uint256 id = first; id < first + count; ++id) {
                NFT.transferFrom(address(this), peer, id);
                NFT.transferFrom(peer, address(this), id);
            }
        }
    }
}
