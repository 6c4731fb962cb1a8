// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryMarket} from "../../src/MemoryMarket.sol";
import {MemoryNFT} from "../../src/MemoryNFT.sol";
import {MemoryAccount} from "../../src/accounts/MemoryAccount.sol";
import {IERC6551Registry} from "../../src/interfaces/IERC6551.sol";
import {IMemoryNFT} from "../../src/interfaces/IMemoryNFT.sol";
import {VM, Vm} from "./Vm.sol";
import {LibERC6551} from "solady/accounts/LibERC6551.sol";

/// @title BaseTest
/// @notice Shared fixture: the canonical ERC-6551 registry etched at its address, a MemoryAccount
///         implementation, a MemoryNFT owned by `admin` with one certifier, and a MemoryMarket.
abstract contract BaseTest {
    Vm internal constant vm = VM;

    IERC6551Registry internal constant registry = IERC6551Registry(LibERC6551.REGISTRY);

    uint256 internal constant CERTIFIER_KEY = 0xC3E7;
    uint256 internal constant ALICE_KEY = 0xA11CE;

    address internal admin = address(0xAD);
    address internal certifier;
    address internal alice;
    address internal bob = address(0xB0B);
    address internal carol = address(0xCA401);

    MemoryAccount internal accountImpl;
    MemoryNFT internal nft;
    MemoryMarket internal market;

    uint256 private _checksumSalt;

    function setUp() public virtual {
        vm.etch(LibERC6551.REGISTRY, LibERC6551.REGISTRY_BYTECODE);
        certifier = vm.addr(CERTIFIER_KEY);
        alice = vm.addr(ALICE_KEY);
        vm.label(admin, "admin");
        vm.label(certifier, "certifier");
        vm.label(alice, "alice");
        vm.label(bob, "bob");
        vm.label(carol, "carol");

        accountImpl = new MemoryAccount();
        nft = new MemoryNFT(address(accountImpl), admin);
        market = new MemoryMarket(nft);
        vm.startPrank(admin);
        nft.setMarket(address(market));
        nft.setCertifier(certifier, true);
        vm.stopPrank();
    }

    // ------------------------------------------------------------ minting helpers

    function _params(address to, bytes32 checksum, uint256[] memory parents)
        internal
        pure
        returns (IMemoryNFT.MintParams memory p)
    {
        p.to = to;
        p.checksum = checksum;
        p.kind = IMemoryNFT.MemoryKind.WMatrix;
        p.sourceModel = "meta-llama/Llama-3.1-8B";
        p.targetModel = "mistralai/Mistral-7B-v0.3";
        p.version = "1.0.0";
        p.royaltyBps = 500;
        p.parents = parents;
    }

    function _nextChecksum() internal returns (bytes32) {
        return keccak256(abi.encode("checksum", ++_checksumSalt));
    }

    /// @dev Commits to `p` as `creator` and moves one block on, so that `p` can be revealed.
    function _commit(address creator, IMemoryNFT.MintParams memory p) internal {
        if (p.salt == bytes32(0)) p.salt = keccak256(abi.encode("salt", p.checksum));
        vm.prank(creator);
        nft.commitMint(nft.mintCommitment(p.checksum, creator, p.salt));
        vm.roll(block.number + 1);
    }

    /// @dev Commits and reveals `p` as `creator` (two blocks); returns the new token.
    function _mintWith(address creator, IMemoryNFT.MintParams memory p) internal returns (uint256 tokenId) {
        _commit(creator, p);
        vm.prank(creator);
        tokenId = nft.mint(p);
    }

    /// @dev Mints a token created and held by `creator`, with `parents`.
    function _mintBy(address creator, uint256[] memory parents) internal returns (uint256 tokenId) {
        return _mintWith(creator, _params(creator, _nextChecksum(), parents));
    }

    function _mintBy(address creator) internal returns (uint256) {
        return _mintBy(creator, new uint256[](0));
    }

    function _ids(uint256 a) internal pure returns (uint256[] memory ids) {
        ids = new uint256[](1);
        ids[0] = a;
    }

    function _ids(uint256 a, uint256 b) internal pure returns (uint256[] memory ids) {
        ids = new uint256[](2);
        ids[0] = a;
        ids[1] = b;
    }

    // ------------------------------------------------------------ certificate helpers

    /// @dev A certificate of `checksum` created by `creator`, by the default certifier.
    function _cert(bytes32 checksum, address creator) internal view returns (IMemoryNFT.Certificate memory c) {
        c.checksum = checksum;
        c.creator = creator;
        c.certifier = certifier;
        c.testSetChecksum = keccak256("test set");
        c.epsilonPpm = 43_210;
        c.relErrorPpm = 21_000;
        c.cosinePpm = 991_000;
        c.euclideanPpm = 1_500_000;
        c.testSamples = 512;
        c.level = 3;
        c.issuedAt = uint64(block.timestamp);
        c.expiresAt = uint64(block.timestamp + 365 days);
        c.nonce = 1;
    }

    /// @dev A certificate of `checksum` by the default certifier, naming the creator of the token minted for
    ///      it (zero if none is).
    function _cert(bytes32 checksum) internal view returns (IMemoryNFT.Certificate memory c) {
        uint256 id = nft.tokenIdOfChecksum(checksum);
        return _cert(checksum, id == 0 ? address(0) : nft.memoryOf(id).creator);
    }

    /// @dev A certificate for token `tokenId` (its checksum and creator), by the default certifier.
    function _certFor(uint256 tokenId) internal view returns (IMemoryNFT.Certificate memory c) {
        IMemoryNFT.MemoryInfo memory info = nft.memoryOf(tokenId);
        return _cert(info.checksum, info.creator);
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _checksumOf(uint256 tokenId) internal view returns (bytes32) {
        return nft.memoryOf(tokenId).checksum;
    }

    // ------------------------------------------------------------ market helpers

    uint64 internal constant LISTING_DURATION = 7 days;

    /// @dev `seller` approves the market and lists `tokenId` for `price` for LISTING_DURATION.
    function _list(address seller, uint256 tokenId, uint256 price) internal returns (uint256 listingId) {
        vm.startPrank(seller);
        nft.approve(address(market), tokenId);
        listingId = market.list(tokenId, price, _expiry());
        vm.stopPrank();
    }

    function _expiry() internal view returns (uint64) {
        return uint64(block.timestamp) + LISTING_DURATION;
    }

    /// @dev `buyer` buys the current listing of `tokenId` (as a buyer who just read it) for `price`.
    function _buy(address buyer, uint256 tokenId, uint256 price) internal {
        uint256 listingId = market.listingOf(tokenId).listingId;
        vm.deal(buyer, buyer.balance + price);
        vm.prank(buyer);
        market.buy{value: price}(tokenId, listingId);
    }
}
