// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryNFT} from "../src/MemoryNFT.sol";
import {MemoryAccount} from "../src/accounts/MemoryAccount.sol";
import {IERC6551Registry} from "../src/interfaces/IERC6551.sol";
import {IMemoryNFT} from "../src/interfaces/IMemoryNFT.sol";
import {ROYALTY_TABLE_WORDS, RoyaltyTable} from "../src/libraries/RoyaltyTable.sol";
import {BoundElsewhere} from "./utils/Actor.sol";
import {BaseTest} from "./utils/BaseTest.sol";
import {PlainERC721} from "./utils/TestTokens.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC2981} from "@openzeppelin/contracts/interfaces/IERC2981.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {IERC721Metadata} from "@openzeppelin/contracts/token/ERC721/extensions/IERC721Metadata.sol";
import {Base64} from "@openzeppelin/contracts/utils/Base64.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {LibERC6551} from "solady/accounts/LibERC6551.sol";

contract MemoryNFTTest is BaseTest {
    // ------------------------------------------------------------------ constructor

    function test_RevertWhen_ConstructedWithZeroImplementation() public {
        vm.expectRevert(IMemoryNFT.ZeroAddress.selector);
        new MemoryNFT(address(0), admin);
    }

    function test_RevertWhen_ConstructedWithZeroOwner() public {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableInvalidOwner.selector, address(0)));
        new MemoryNFT(address(accountImpl), address(0));
    }

    function test_constructor_SetsMetadataAndConstants() public view {
        vm.assertEq(nft.name(), "Memory", "name");
        vm.assertEq(nft.symbol(), "MEMORY", "symbol");
        vm.assertEq(nft.owner(), admin, "owner");
        vm.assertEq(nft.accountImplementation(), address(accountImpl), "impl");
        vm.assertEq(nft.ERC6551_REGISTRY(), LibERC6551.REGISTRY, "registry");
        vm.assertEq(
            nft.MAX_ANCESTOR_SHARE_BPS(),
            nft.MAX_PARENTS() * nft.PARENT_SHARE_BPS() + (nft.MAX_ANCESTORS() - nft.MAX_PARENTS())
                * (nft.PARENT_SHARE_BPS() / 2),
            "ancestor share bound"
        );
        vm.assertEq(nft.totalSupply(), 0, "supply");
    }

    // ------------------------------------------------------------------ mint

    function test_mint_RecordsFieldsAndEmits() public {
        bytes32 checksum = keccak256("artifact");
        IMemoryNFT.MintParams memory p = _params(bob, checksum, new uint256[](0));
        p.uri = "ipfs://memory";
        p.kind = IMemoryNFT.MemoryKind.KVCache;

        _commit(alice, p);
        vm.expectEmit(address(nft));
        emit IERC721.Transfer(address(0), bob, 1);
        vm.expectEmit(address(nft));
        emit IMemoryNFT.MemoryMinted(
            1, alice, checksum, p.kind, p.sourceModel, p.targetModel, p.version, p.uri, p.royaltyBps, p.parents
        );
        vm.prank(alice);
        uint256 id = nft.mint(p);

        vm.assertEq(id, 1, "first id is 1");
        vm.assertEq(nft.ownerOf(1), bob, "owner");
        vm.assertEq(nft.totalSupply(), 1, "supply");
        vm.assertEq(nft.tokenIdOfChecksum(checksum), 1, "checksum index");
        IMemoryNFT.MemoryInfo memory m = nft.memoryOf(1);
        vm.assertEq(m.creator, alice, "creator is msg.sender");
        vm.assertEq(m.checksum, checksum, "checksum");
        vm.assertEq(uint256(m.kind), uint256(IMemoryNFT.MemoryKind.KVCache), "kind");
        vm.assertEq(m.sourceModel, p.sourceModel, "source");
        vm.assertEq(m.targetModel, p.targetModel, "target");
        vm.assertEq(m.version, "1.0.0", "version");
        vm.assertEq(m.uri, "ipfs://memory", "uri");
        vm.assertEq(m.royaltyBps, 500, "royalty");
        vm.assertEq(m.parents.length, 0, "no parents");
        vm.assertEq(nft.transferCountOf(1), 0, "a mint is not a transfer");
        vm.assertEq(_mintBy(alice), 2, "ids increase by one");
    }

    function test_mint_WithParentsBuildsTable() public {
        uint256 a = _mintBy(alice);
        uint256 b = _mintBy(alice);
        uint256 c = _mintBy(bob, _ids(b, a));
        vm.assertEq(nft.parentsOf(c), _ids(a, b), "parents ascending");
        (uint256[] memory ids, uint16[] memory bps) = nft.royaltyTable(c);
        vm.assertEq(ids, _ids(a, b), "table ids");
        vm.assertEq(bps[0], 100, "parent share");
        vm.assertEq(bps[1], 100, "parent share");

        // d <- c <- {a, b}, d <- a (diamond: a is both parent and grandparent, paid once at 1%).
        uint256 d = _mintBy(carol, _ids(c, a));
        (ids, bps) = nft.royaltyTable(d);
        vm.assertEq(ids.length, 3, "a, c, b");
        vm.assertEq(ids[0], a, "a first (parent, lower id)");
        vm.assertEq(ids[1], c, "c");
        vm.assertEq(ids[2], b, "b inherited");
        vm.assertEq(bps[0], 100, "a as parent");
        vm.assertEq(bps[1], 100, "c as parent");
        vm.assertEq(bps[2], 50, "b halves");
        vm.assertEq(nft.parentsOf(d), _ids(a, c), "parents of d");
    }

    function test_mint_TruncatesTableAtMaxAncestors() public {
        // A chain of 7 generations above 8 parents each with a distinct 7-deep line would exceed 16.
        uint256[] memory parents = new uint256[](8);
        for (uint256 i; i < 8; ++i) {
            uint256 root = _mintBy(alice);
            uint256 mid = _mintBy(alice, _ids(root));
            parents[i] = _mintBy(alice, _ids(mid));
        }
        uint256 child = _mintBy(bob, parents);
        (uint256[] memory ids, uint16[] memory bps) = nft.royaltyTable(child);
        vm.assertEq(ids.length, 16, "truncated to MAX_ANCESTORS");
        uint256 total;
        for (uint256 i; i < ids.length; ++i) {
            total += bps[i];
            if (i < 8) vm.assertEq(bps[i], 100, "parents first");
            else vm.assertEq(bps[i], 50, "then grandparents");
        }
        vm.assertEq(total, nft.MAX_ANCESTOR_SHARE_BPS(), "bound reached exactly");
        vm.assertEq(nft.parentsOf(child), parents, "parents kept");
    }

    function test_mint_CreatesAccount() public {
        address expected = nft.accountOf(1);
        vm.assertEq(
            expected,
            registry.account(address(accountImpl), bytes32(0), block.chainid, address(nft), 1),
            "accountOf matches the registry"
        );
        IMemoryNFT.MintParams memory p = _params(alice, keccak256("x"), new uint256[](0));
        p.createAccount = true;
        _commit(alice, p);
        vm.expectEmit(address(registry));
        emit IERC6551Registry.ERC6551AccountCreated(
            expected, address(accountImpl), bytes32(0), block.chainid, address(nft), 1
        );
        vm.prank(alice);
        nft.mint(p);
        vm.assertGt(expected.code.length, 0, "account deployed");
        vm.assertEq(MemoryAccount(payable(expected)).owner(), alice, "account owner follows the NFT");
    }

    function test_RevertWhen_MintCreatesAccountWithoutRegistry() public {
        vm.etch(LibERC6551.REGISTRY, "");
        IMemoryNFT.MintParams memory p = _params(alice, keccak256("x"), new uint256[](0));
        p.createAccount = true;
        _commit(address(this), p);
        vm.expectRevert(IERC6551Registry.AccountCreationFailed.selector);
        nft.mint(p);
    }

    function test_RevertWhen_MintToZeroAddress() public {
        vm.expectRevert(IMemoryNFT.ZeroAddress.selector);
        nft.mint(_params(address(0), keccak256("x"), new uint256[](0)));
    }

    function test_RevertWhen_MintZeroChecksum() public {
        vm.expectRevert(IMemoryNFT.ZeroChecksum.selector);
        nft.mint(_params(alice, bytes32(0), new uint256[](0)));
    }

    function test_RevertWhen_MintReusedChecksum() public {
        _mintWith(alice, _params(alice, keccak256("x"), new uint256[](0)));
        IMemoryNFT.MintParams memory p = _params(bob, keccak256("x"), new uint256[](0));
        _commit(bob, p);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.ChecksumAlreadyMinted.selector, keccak256("x"), 1));
        nft.mint(p);
    }

    function test_RevertWhen_MintRoyaltyOverCap() public {
        IMemoryNFT.MintParams memory p = _params(alice, keccak256("x"), new uint256[](0));
        p.royaltyBps = 1001;
        _commit(address(this), p);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.RoyaltyTooHigh.selector, 1001, 1000));
        nft.mint(p);
    }

    function test_RevertWhen_MintTooManyParents() public {
        uint256[] memory parents = new uint256[](9);
        for (uint256 i; i < 9; ++i) {
            parents[i] = _mintBy(alice);
        }
        IMemoryNFT.MintParams memory p = _params(alice, keccak256("x"), parents);
        _commit(address(this), p);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.TooManyParents.selector, 9, 8));
        nft.mint(p);
    }

    function test_RevertWhen_MintUnknownParent() public {
        _mintBy(alice);
        IMemoryNFT.MintParams memory p = _params(alice, keccak256("x"), _ids(0));
        _commit(address(this), p); // a failed reveal keeps the commitment
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.UnknownParent.selector, 0));
        nft.mint(p);
        p.parents = _ids(1, 2);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.UnknownParent.selector, 2));
        nft.mint(p);
    }

    function test_RevertWhen_MintDuplicateParent() public {
        _mintBy(alice);
        IMemoryNFT.MintParams memory p = _params(alice, keccak256("x"), _ids(1, 1));
        _commit(address(this), p);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.DuplicateParent.selector, 1));
        nft.mint(p);
    }

    function test_RevertWhen_MintIntoOwnAccount() public {
        address own = nft.accountOf(1);
        IMemoryNFT.MintParams memory p = _params(own, keccak256("x"), new uint256[](0));
        _commit(address(this), p);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.TransferToOwnAccount.selector, 1));
        nft.mint(p);
    }

    function test_RevertWhen_TransferIntoOwnAccount() public {
        uint256 id = _mintBy(alice);
        address own = nft.accountOf(id);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.TransferToOwnAccount.selector, id));
        nft.transferFrom(alice, own, id);
    }

    function test_transfer_IntoAnotherTokensAccount() public {
        uint256 a = _mintBy(alice);
        uint256 b = _mintBy(alice);
        address accountOfB = nft.accountOf(b);
        vm.prank(alice);
        nft.transferFrom(alice, accountOfB, a);
        vm.assertEq(nft.ownerOf(a), nft.accountOf(b), "a held by b's account");
    }

    /// @dev a's account holds b: sending a into b's account would make a own itself through b. Refused by a
    ///      plain `transferFrom` too (no receiver callback needed).
    function test_RevertWhen_TransferIntoAnAccountNestedUnderTheToken() public {
        uint256 a = _mintBy(alice);
        uint256 b = _mintBy(alice);
        address accountA = _account(a);
        address accountB = _account(b);
        vm.prank(alice);
        nft.transferFrom(alice, accountA, b);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.TransferToOwnAccount.selector, a));
        nft.transferFrom(alice, accountB, a);
        vm.assertEq(nft.ownerOf(a), alice, "a stays");
    }

    /// @dev The cycle check follows token-bound accounts of other ERC-721 contracts too.
    function test_RevertWhen_TransferIntoACycleThroughAnotherTokenContract() public {
        uint256 a = _mintBy(alice);
        address accountA = _account(a);
        PlainERC721 plain = new PlainERC721();
        uint256 p = plain.mint(accountA); // a's account holds a plain token
        address accountP = registry.createAccount(address(accountImpl), 0, block.chainid, address(plain), p);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.TransferToOwnAccount.selector, a));
        nft.transferFrom(alice, accountP, a);
    }

    /// @dev The check follows at most MAX_OWNERSHIP_DEPTH owners above the recipient: a chain one shorter
    ///      is accepted, a chain of that length is refused.
    function test_RevertWhen_TransferBelowATooDeepChain() public {
        uint256 depth = nft.MAX_OWNERSHIP_DEPTH();
        // t[0] <- account(t[1]) <- ... <- account(t[depth - 2]), t[depth - 2] held by alice.
        uint256[] memory t = new uint256[](depth);
        t[0] = _mintBy(alice);
        _account(t[0]);
        for (uint256 i = 1; i < depth - 1; ++i) {
            t[i] = _mintBy(alice);
            address next = _account(t[i]);
            vm.prank(alice);
            nft.transferFrom(alice, next, t[i - 1]);
        }
        address bottom = nft.accountOf(t[0]);
        uint256 gift = _mintBy(alice);
        vm.prank(alice);
        nft.transferFrom(alice, bottom, gift);
        vm.assertEq(nft.ownerOf(gift), bottom, "depth - 1 accounts above: accepted");

        t[depth - 1] = _mintBy(alice);
        address top = _account(t[depth - 1]);
        vm.prank(alice);
        nft.transferFrom(alice, top, t[depth - 2]);
        uint256 gift2 = _mintBy(alice);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.OwnershipChainTooDeep.selector, depth));
        nft.transferFrom(alice, bottom, gift2);
    }

    /// @dev The walk stops, and the transfer goes through, at a recipient whose `token()` names another
    ///      chain or a token whose `ownerOf` reverts.
    function test_transfer_IntoAContractBoundElsewhere() public {
        PlainERC721 plain = new PlainERC721();
        BoundElsewhere otherChain = new BoundElsewhere();
        otherChain.bindTo(block.chainid + 1, address(nft), 1);
        BoundElsewhere missingToken = new BoundElsewhere();
        missingToken.bindTo(block.chainid, address(plain), 999);
        uint256 a = _mintBy(alice);
        uint256 b = _mintBy(alice);
        vm.startPrank(alice);
        nft.transferFrom(alice, address(otherChain), a);
        nft.transferFrom(alice, address(missingToken), b);
        vm.stopPrank();
        vm.assertEq(nft.ownerOf(a), address(otherChain), "another chain");
        vm.assertEq(nft.ownerOf(b), address(missingToken), "a missing token");
    }

    function _account(uint256 id) internal returns (address) {
        return registry.createAccount(address(accountImpl), 0, block.chainid, address(nft), id);
    }

    // ------------------------------------------------------------------ commit-reveal

    function test_mintCommitment_BindsChecksumCreatorAndSalt() public view {
        bytes32 checksum = keccak256("x");
        bytes32 salt = bytes32(uint256(7));
        vm.assertEq(nft.mintCommitment(checksum, alice, salt), keccak256(abi.encode(checksum, alice, salt)), "encoding");
        vm.assertTrue(nft.mintCommitment(checksum, alice, salt) != nft.mintCommitment(checksum, bob, salt), "creator");
        vm.assertTrue(nft.mintCommitment(checksum, alice, salt) != nft.mintCommitment(checksum, alice, 0), "salt");
    }

    function test_commitMint_RecordsAndEmits() public {
        bytes32 c = nft.mintCommitment(keccak256("x"), alice, bytes32(uint256(1)));
        vm.warp(5000);
        vm.roll(77);
        vm.expectEmit(address(nft));
        emit IMemoryNFT.MintCommitted(c, alice);
        vm.prank(alice);
        nft.commitMint(c);
        (uint256 committedBlock, uint256 committedAt) = nft.commitmentOf(c);
        vm.assertEq(committedBlock, 77, "block");
        vm.assertEq(committedAt, 5000, "time");
    }

    function test_mint_ConsumesTheCommitment() public {
        IMemoryNFT.MintParams memory p = _params(alice, keccak256("x"), new uint256[](0));
        _commit(alice, p);
        bytes32 c = nft.mintCommitment(p.checksum, alice, p.salt);
        (uint256 committedBlock,) = nft.commitmentOf(c);
        vm.assertGt(committedBlock, 0, "committed");
        vm.prank(alice);
        nft.mint(p);
        (uint256 blockAfter, uint256 timeAfter) = nft.commitmentOf(c);
        vm.assertEq(blockAfter, 0, "revealed: gone");
        vm.assertEq(timeAfter, 0, "revealed: gone");
    }

    function test_RevertWhen_MintWithoutCommitment() public {
        IMemoryNFT.MintParams memory p = _params(alice, keccak256("x"), new uint256[](0));
        bytes32 c = nft.mintCommitment(p.checksum, alice, p.salt);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.UnknownCommitment.selector, c));
        nft.mint(p);
    }

    /// @dev The commitment binds its creator: whoever copies the reveal is not the one who committed.
    function test_RevertWhen_MintRevealsSomeoneElsesCommitment() public {
        IMemoryNFT.MintParams memory p = _params(alice, keccak256("x"), new uint256[](0));
        _commit(alice, p);
        bytes32 bobs = nft.mintCommitment(p.checksum, bob, p.salt);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.UnknownCommitment.selector, bobs));
        nft.mint(p);
    }

    function test_RevertWhen_MintInTheCommitBlock() public {
        IMemoryNFT.MintParams memory p = _params(alice, keccak256("x"), new uint256[](0));
        bytes32 c = nft.mintCommitment(p.checksum, alice, p.salt);
        vm.prank(alice);
        nft.commitMint(c);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.CommitmentTooNew.selector, c, block.number + 1));
        nft.mint(p);
        vm.roll(block.number + 1);
        vm.prank(alice);
        vm.assertEq(nft.mint(p), 1, "from the next block on");
    }

    function test_mint_AtTheEndOfTheRevealWindow() public {
        IMemoryNFT.MintParams memory p = _params(alice, keccak256("x"), new uint256[](0));
        uint256 committedAt = block.timestamp;
        _commit(alice, p);
        vm.warp(committedAt + nft.COMMIT_REVEAL_WINDOW());
        vm.prank(alice);
        vm.assertEq(nft.mint(p), 1, "the window's last second");
    }

    function test_RevertWhen_MintAfterTheRevealWindow() public {
        IMemoryNFT.MintParams memory p = _params(alice, keccak256("x"), new uint256[](0));
        uint256 end = block.timestamp + nft.COMMIT_REVEAL_WINDOW();
        _commit(alice, p);
        bytes32 c = nft.mintCommitment(p.checksum, alice, p.salt);
        vm.warp(end + 1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.CommitmentExpired.selector, c, end));
        nft.mint(p);
    }

    function test_RevertWhen_CommitmentLive() public {
        bytes32 c = nft.mintCommitment(keccak256("x"), alice, 0);
        uint256 committedAt = block.timestamp;
        vm.prank(alice);
        nft.commitMint(c);
        vm.warp(committedAt + nft.COMMIT_REVEAL_WINDOW());
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.CommitmentLive.selector, c, committedAt));
        nft.commitMint(c);
    }

    function test_commitMint_AgainAfterTheWindow() public {
        IMemoryNFT.MintParams memory p = _params(alice, keccak256("x"), new uint256[](0));
        bytes32 c = nft.mintCommitment(p.checksum, alice, p.salt);
        vm.prank(alice);
        nft.commitMint(c);
        vm.warp(block.timestamp + nft.COMMIT_REVEAL_WINDOW() + 1);
        vm.roll(block.number + 5);
        vm.prank(alice);
        nft.commitMint(c);
        (uint256 committedBlock, uint256 committedAt) = nft.commitmentOf(c);
        vm.assertEq(committedBlock, block.number, "renewed block");
        vm.assertEq(committedAt, block.timestamp, "renewed time");
        vm.roll(block.number + 1);
        vm.prank(alice);
        vm.assertEq(nft.mint(p), 1, "the renewed commitment reveals");
    }

    // ------------------------------------------------------------------ transfer count

    function test_transferCountOf_CountsEveryTransfer() public {
        uint256 id = _mintBy(alice);
        vm.assertEq(nft.transferCountOf(id), 0, "minted");
        vm.prank(alice);
        nft.transferFrom(alice, bob, id);
        vm.assertEq(nft.transferCountOf(id), 1, "transferFrom");
        vm.prank(bob);
        nft.safeTransferFrom(bob, carol, id);
        vm.assertEq(nft.transferCountOf(id), 2, "safeTransferFrom");
        vm.prank(carol);
        nft.approve(bob, id);
        vm.prank(carol);
        nft.setApprovalForAll(bob, true);
        vm.assertEq(nft.transferCountOf(id), 2, "approvals are not transfers");
        _list(carol, id, 1 ether);
        _buy(alice, id, 1 ether);
        vm.assertEq(nft.transferCountOf(id), 3, "a sale");
        vm.assertEq(nft.transferCountOf(_mintBy(bob)), 0, "per token");
    }

    // ------------------------------------------------------------------ fuzz: the royalty table rule

    /// @dev On graphs small enough that no table is truncated, an ancestor's share is
    ///      PARENT_SHARE_BPS >> (shortest distance - 1), and only ancestors with a non-zero share appear.
    function testFuzz_mint_TableMatchesShortestDistances(uint256 seed) public {
        uint256 n = 12;
        bool[12][12] memory edge; // edge[child][parent]
        for (uint256 t = 1; t <= n; ++t) {
            uint256[] memory parents = new uint256[](t - 1 < 3 ? t - 1 : 3);
            uint256 count;
            for (uint256 k; k < parents.length; ++k) {
                uint256 p = 1 + uint256(keccak256(abi.encode(seed, t, k))) % (t - 1);
                if (edge[t - 1][p - 1]) continue;
                edge[t - 1][p - 1] = true;
                parents[count++] = p;
            }
            assembly ("memory-safe") {
                mstore(parents, count)
            }
            vm.assertEq(_mintBy(alice, parents), t, "sequential ids");
        }
        for (uint256 t = 1; t <= n; ++t) {
            uint256[12] memory dist = _distances(edge, t - 1);
            (uint256[] memory ids, uint16[] memory bps) = nft.royaltyTable(t);
            uint256 expectedCount;
            for (uint256 a; a < n; ++a) {
                if (dist[a] != 0 && (100 >> (dist[a] - 1)) != 0) ++expectedCount;
            }
            vm.assertEq(ids.length, expectedCount, "ancestors with a share");
            for (uint256 i; i < ids.length; ++i) {
                vm.assertLt(ids[i], t, "ancestors are older");
                vm.assertEq(bps[i], 100 >> (dist[ids[i] - 1] - 1), "share by distance");
                if (i > 0) {
                    vm.assertTrue(
                        bps[i] < bps[i - 1] || (bps[i] == bps[i - 1] && ids[i] > ids[i - 1]), "sorted, unique"
                    );
                }
            }
        }
    }

    function _distances(bool[12][12] memory edge, uint256 from) private pure returns (uint256[12] memory dist) {
        // Breadth-first over parent edges; dist 0 = not an ancestor.
        uint256[12] memory queue;
        uint256 head;
        uint256 tail;
        queue[tail++] = from;
        bool[12] memory seen;
        seen[from] = true;
        uint256[12] memory d;
        while (head < tail) {
            uint256 x = queue[head++];
            for (uint256 p; p < 12; ++p) {
                if (edge[x][p] && !seen[p]) {
                    seen[p] = true;
                    d[p] = d[x] + 1;
                    dist[p] = d[p];
                    queue[tail++] = p;
                }
            }
        }
    }

    /// @dev Any valid parent set: bounded table, parents first, total within the documented bound.
    function testFuzz_mint_TableBounds(uint256 seed, uint8 parentCount) public {
        for (uint256 i; i < 24; ++i) {
            uint256 k = i == 0 ? 0 : uint256(keccak256(abi.encode(seed, i))) % (i < 8 ? i : 8) + 1;
            uint256[] memory parents = new uint256[](k);
            for (uint256 j; j < k; ++j) {
                parents[j] = i - j; // distinct, existing
            }
            _mintBy(alice, parents);
        }
        uint256 count = bound(parentCount, 0, 8);
        uint256[] memory ps = new uint256[](count);
        for (uint256 j; j < count; ++j) {
            ps[j] = 24 - 3 * j;
        }
        uint256 child = _mintBy(bob, ps);
        (uint256[] memory ids, uint16[] memory bps) = nft.royaltyTable(child);
        vm.assertLe(ids.length, nft.MAX_ANCESTORS(), "bounded");
        uint256 total;
        for (uint256 i; i < ids.length; ++i) {
            total += bps[i];
            vm.assertLt(ids[i], child, "older");
            vm.assertEq(bps[i] == 100, i < count, "parents are exactly the 1% entries, first");
        }
        vm.assertLe(total, nft.MAX_ANCESTOR_SHARE_BPS(), "total bound");
        vm.assertEq(nft.parentsOf(child).length, count, "parent count");
    }

    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        return lo + x % (hi - lo + 1);
    }

    // ------------------------------------------------------------------ views

    function test_royaltyInfo_PaysCreator() public {
        uint256 id = _mintBy(alice);
        vm.prank(alice);
        nft.transferFrom(alice, bob, id);
        (address receiver, uint256 amount) = nft.royaltyInfo(id, 1 ether);
        vm.assertEq(receiver, alice, "creator keeps the royalty");
        vm.assertEq(amount, 0.05 ether, "5%");
    }

    function test_saleInfo_AgreesWithRoyaltyInfoTableAndTransferCount() public {
        // 8 parents, each with its own parent: 16 entries, all six table words in use.
        uint256[] memory parents = new uint256[](8);
        for (uint256 i; i < 8; ++i) {
            parents[i] = _mintBy(alice, _ids(_mintBy(alice)));
        }
        uint256 child = _mintBy(bob, parents);
        vm.prank(bob);
        nft.transferFrom(bob, carol, child);
        for (uint256 t = 1; t <= child; ++t) {
            IMemoryNFT.SaleInfo memory info = nft.saleInfo(t);
            (address receiver, uint256 amount) = nft.royaltyInfo(t, 10_000);
            vm.assertEq(info.creator, receiver, "creator is the ERC-2981 receiver");
            vm.assertEq(info.royaltyBps, amount, "royalty bps");
            vm.assertEq(info.transferCount, nft.transferCountOf(t), "transfer count");
            (uint256[] memory ids, uint16[] memory bps) = nft.royaltyTable(t);
            vm.assertEq(info.count, ids.length, "entry count");
            for (uint256 i; i < info.count; ++i) {
                (uint256 id, uint256 share) = RoyaltyTable.entryAt(info.table, i);
                vm.assertEq(id, ids[i], "entry id");
                vm.assertEq(share, bps[i], "entry share");
            }
            for (uint256 w = (info.count + 2) / 3; w < ROYALTY_TABLE_WORDS; ++w) {
                vm.assertEq(info.table[w], 0, "unused words are zero");
            }
        }
        vm.assertEq(nft.saleInfo(child).count, 16, "a full table");
        vm.assertEq(nft.saleInfo(child).transferCount, 1, "one transfer");
    }

    function test_RevertWhen_ViewsOfNonexistentToken() public {
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NonexistentToken.selector, 1));
        nft.royaltyInfo(1, 1 ether);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NonexistentToken.selector, 1));
        nft.memoryOf(1);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NonexistentToken.selector, 0));
        nft.royaltyTable(0);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NonexistentToken.selector, 1));
        nft.saleInfo(1);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NonexistentToken.selector, 1));
        nft.transferCountOf(1);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NonexistentToken.selector, 1));
        nft.parentsOf(1);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NonexistentToken.selector, 1));
        nft.tokenURI(1);
    }

    function test_tokenURI_ReturnsGivenUri() public {
        IMemoryNFT.MintParams memory p = _params(alice, keccak256("x"), new uint256[](0));
        p.uri = "ipfs://bafy/meta.json";
        _mintWith(address(this), p);
        vm.assertEq(nft.tokenURI(1), "ipfs://bafy/meta.json", "uri");
    }

    function test_tokenURI_RendersOnChainJson() public {
        _mintBy(alice);
        _mintBy(alice);
        IMemoryNFT.MintParams memory p =
            _params(alice, 0x00000000000000000000000000000000000000000000000000000000000000ff, _ids(2, 1));
        p.sourceModel = 'evil"model\\';
        p.kind = IMemoryNFT.MemoryKind.Other;
        p.royaltyBps = 250;
        _mintWith(address(0xAbCd), p);
        string memory json = string.concat(
            '{"name":"Memory #3","kind":"other","checksum":"0x00000000000000000000000000000000000000000000000000000000000000ff",',
            '"creator":"0x000000000000000000000000000000000000ABcD","sourceModel":"evil\\"model\\\\",',
            '"targetModel":"mistralai/Mistral-7B-v0.3","version":"1.0.0","royaltyBps":250,"parents":[1,2]}'
        );
        vm.assertEq(nft.tokenURI(3), string.concat("data:application/json;base64,", Base64.encode(bytes(json))), "json");
        IMemoryNFT.MintParams memory q = _params(alice, bytes32(uint256(0xabc)), new uint256[](0));
        q.kind = IMemoryNFT.MemoryKind.KVCache;
        _mintWith(address(0xAbCd), q);
        vm.assertEq(nft.tokenURI(4), _defaultJson(4, "KV-cache", "abc"), "kv-cache");
        q.checksum = bytes32(uint256(0xabd));
        q.kind = IMemoryNFT.MemoryKind.WMatrix;
        _mintWith(address(0xAbCd), q);
        vm.assertEq(nft.tokenURI(5), _defaultJson(5, "W-Matrix", "abd"), "w-matrix");
    }

    function _defaultJson(uint256 id, string memory kind, string memory checksumTail)
        private
        pure
        returns (string memory)
    {
        string memory json = string.concat(
            '{"name":"Memory #',
            vm.toString(id),
            '","kind":"',
            kind,
            '","checksum":"0x0000000000000000000000000000000000000000000000000000000000000',
            checksumTail,
            '","creator":"0x000000000000000000000000000000000000ABcD","sourceModel":"meta-llama/Llama-3.1-8B",',
            '"targetModel":"mistralai/Mistral-7B-v0.3","version":"1.0.0","royaltyBps":500,"parents":[]}'
        );
        return string.concat("data:application/json;base64,", Base64.encode(bytes(json)));
    }

    function test_supportsInterface() public view {
        vm.assertTrue(nft.supportsInterface(type(IERC721).interfaceId), "721");
        vm.assertTrue(nft.supportsInterface(type(IERC721Metadata).interfaceId), "metadata");
        vm.assertTrue(nft.supportsInterface(type(IERC2981).interfaceId), "2981");
        vm.assertTrue(nft.supportsInterface(type(IERC165).interfaceId), "165");
        vm.assertFalse(nft.supportsInterface(0xdeadbeef), "other");
    }

    // ------------------------------------------------------------------ certifiers

    function test_setCertifier_ByOwner() public {
        vm.expectEmit(address(nft));
        emit IMemoryNFT.CertifierSet(bob, true);
        vm.prank(admin);
        nft.setCertifier(bob, true);
        vm.assertTrue(nft.isCertifier(bob), "set");
        vm.prank(admin);
        nft.setCertifier(bob, false);
        vm.assertFalse(nft.isCertifier(bob), "unset");
    }

    function test_RevertWhen_SetCertifierByNonOwner() public {
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, bob));
        nft.setCertifier(bob, true);
    }

    function test_RevertWhen_SetCertifierZero() public {
        vm.prank(admin);
        vm.expectRevert(IMemoryNFT.ZeroAddress.selector);
        nft.setCertifier(address(0), true);
    }

    function test_RevertWhen_RenounceOwnership() public {
        vm.prank(admin);
        vm.expectRevert(IMemoryNFT.RenounceDisabled.selector);
        nft.renounceOwnership();
        vm.assertEq(nft.owner(), admin, "still the admin");
    }

    // ------------------------------------------------------------------ market and account lock

    function test_setMarket_OnceByTheOwner() public {
        MemoryNFT fresh = new MemoryNFT(address(accountImpl), admin);
        vm.assertEq(fresh.market(), address(0), "none yet");
        vm.expectEmit(address(fresh));
        emit IMemoryNFT.MarketSet(address(market));
        vm.prank(admin);
        fresh.setMarket(address(market));
        vm.assertEq(fresh.market(), address(market), "set");
    }

    function test_RevertWhen_SetMarketTwice() public {
        vm.assertEq(nft.market(), address(market), "the fixture set it");
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.MarketAlreadySet.selector, address(market)));
        nft.setMarket(address(0x1234));
        vm.assertEq(nft.market(), address(market), "unchanged");
    }

    function test_RevertWhen_SetMarketByNonOwner() public {
        MemoryNFT fresh = new MemoryNFT(address(accountImpl), admin);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, bob));
        fresh.setMarket(address(market));
    }

    function test_RevertWhen_SetMarketZero() public {
        MemoryNFT fresh = new MemoryNFT(address(accountImpl), admin);
        vm.prank(admin);
        vm.expectRevert(IMemoryNFT.ZeroAddress.selector);
        fresh.setMarket(address(0));
    }

    function test_accountLocked_WhileTheTokenHasALiveListing() public {
        uint256 id = _mintBy(alice);
        vm.assertFalse(nft.accountLocked(id), "not listed");
        _list(alice, id, 1 ether);
        vm.assertTrue(nft.accountLocked(id), "listed");
        vm.warp(market.listingOf(id).expiresAt + 1);
        vm.assertFalse(nft.accountLocked(id), "expired");
        _list(alice, id, 1 ether);
        vm.prank(alice);
        market.cancel(id);
        vm.assertFalse(nft.accountLocked(id), "cancelled");
        _list(alice, id, 1 ether);
        vm.prank(alice);
        nft.transferFrom(alice, bob, id);
        vm.assertFalse(nft.accountLocked(id), "moved: the listing is dead");
        vm.assertFalse(nft.accountLocked(999), "unknown token");
    }

    function test_accountLocked_FalseWithoutAMarket() public {
        MemoryNFT fresh = new MemoryNFT(address(accountImpl), admin);
        vm.assertFalse(fresh.accountLocked(1), "no market, no lock");
    }

    function test_ownership_TwoStepTransfer() public {
        vm.prank(admin);
        nft.transferOwnership(bob);
        vm.assertEq(nft.owner(), admin, "pending only");
        vm.prank(bob);
        nft.acceptOwnership();
        vm.assertEq(nft.owner(), bob, "accepted");
    }
}
