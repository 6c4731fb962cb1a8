// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryNFT} from "../src/MemoryNFT.sol";
import {MemoryAccount} from "../src/accounts/MemoryAccount.sol";
import {IERC6551Registry} from "../src/interfaces/IERC6551.sol";
import {IMemoryNFT} from "../src/interfaces/IMemoryNFT.sol";
import {ROYALTY_TABLE_WORDS, RoyaltyTable} from "../src/libraries/RoyaltyTable.sol";
import {BaseTest} from "./utils/BaseTest.sol";
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
        nft.mint(_params(alice, keccak256("x"), new uint256[](0)));
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.ChecksumAlreadyMinted.selector, keccak256("x"), 1));
        nft.mint(_params(bob, keccak256("x"), new uint256[](0)));
    }

    function test_RevertWhen_MintRoyaltyOverCap() public {
        IMemoryNFT.MintParams memory p = _params(alice, keccak256("x"), new uint256[](0));
        p.royaltyBps = 1001;
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.RoyaltyTooHigh.selector, 1001, 1000));
        nft.mint(p);
    }

    function test_RevertWhen_MintTooManyParents() public {
        uint256[] memory parents = new uint256[](9);
        for (uint256 i; i < 9; ++i) {
            parents[i] = _mintBy(alice);
        }
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.TooManyParents.selector, 9, 8));
        nft.mint(_params(alice, keccak256("x"), parents));
    }

    function test_RevertWhen_MintUnknownParent() public {
        _mintBy(alice);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.UnknownParent.selector, 0));
        nft.mint(_params(alice, keccak256("x"), _ids(0)));
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.UnknownParent.selector, 2));
        nft.mint(_params(alice, keccak256("x"), _ids(1, 2)));
    }

    function test_RevertWhen_MintDuplicateParent() public {
        _mintBy(alice);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.DuplicateParent.selector, 1));
        nft.mint(_params(alice, keccak256("x"), _ids(1, 1)));
    }

    function test_RevertWhen_MintIntoOwnAccount() public {
        address own = nft.accountOf(1);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.TransferToOwnAccount.selector, 1));
        nft.mint(_params(own, keccak256("x"), new uint256[](0)));
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

    function test_saleRoyalties_AgreesWithRoyaltyInfoAndTable() public {
        // 8 parents, each with its own parent: 16 entries, all six table words in use.
        uint256[] memory parents = new uint256[](8);
        for (uint256 i; i < 8; ++i) {
            parents[i] = _mintBy(alice, _ids(_mintBy(alice)));
        }
        uint256 child = _mintBy(bob, parents);
        for (uint256 t = 1; t <= child; ++t) {
            (address creator, uint256 royaltyBps, uint256 count, uint256[ROYALTY_TABLE_WORDS] memory words) =
                nft.saleRoyalties(t);
            (address receiver, uint256 amount) = nft.royaltyInfo(t, 10_000);
            vm.assertEq(creator, receiver, "creator is the ERC-2981 receiver");
            vm.assertEq(royaltyBps, amount, "royalty bps");
            (uint256[] memory ids, uint16[] memory bps) = nft.royaltyTable(t);
            vm.assertEq(count, ids.length, "entry count");
            for (uint256 i; i < count; ++i) {
                (uint256 id, uint256 share) = RoyaltyTable.entryAt(words, i);
                vm.assertEq(id, ids[i], "entry id");
                vm.assertEq(share, bps[i], "entry share");
            }
            for (uint256 w = (count + 2) / 3; w < ROYALTY_TABLE_WORDS; ++w) {
                vm.assertEq(words[w], 0, "unused words are zero");
            }
        }
        (,, uint256 full,) = nft.saleRoyalties(child);
        vm.assertEq(full, 16, "a full table");
    }

    function test_RevertWhen_ViewsOfNonexistentToken() public {
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NonexistentToken.selector, 1));
        nft.royaltyInfo(1, 1 ether);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NonexistentToken.selector, 1));
        nft.memoryOf(1);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NonexistentToken.selector, 0));
        nft.royaltyTable(0);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NonexistentToken.selector, 1));
        nft.saleRoyalties(1);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NonexistentToken.selector, 1));
        nft.parentsOf(1);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NonexistentToken.selector, 1));
        nft.tokenURI(1);
    }

    function test_tokenURI_ReturnsGivenUri() public {
        IMemoryNFT.MintParams memory p = _params(alice, keccak256("x"), new uint256[](0));
        p.uri = "ipfs://bafy/meta.json";
        nft.mint(p);
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
        vm.prank(address(0xAbCd));
        nft.mint(p);
        string memory json = string.concat(
            '{"name":"Memory #3","kind":"other","checksum":"0x00000000000000000000000000000000000000000000000000000000000000ff",',
            '"creator":"0x000000000000000000000000000000000000ABcD","sourceModel":"evil\\"model\\\\",',
            '"targetModel":"mistralai/Mistral-7B-v0.3","version":"1.0.0","royaltyBps":250,"parents":[1,2]}'
        );
        vm.assertEq(nft.tokenURI(3), string.concat("data:application/json;base64,", Base64.encode(bytes(json))), "json");
        IMemoryNFT.MintParams memory q = _params(alice, bytes32(uint256(0xabc)), new uint256[](0));
        q.kind = IMemoryNFT.MemoryKind.KVCache;
        vm.prank(address(0xAbCd));
        nft.mint(q);
        vm.assertEq(nft.tokenURI(4), _defaultJson(4, "KV-cache", "abc"), "kv-cache");
        q.checksum = bytes32(uint256(0xabd));
        q.kind = IMemoryNFT.MemoryKind.WMatrix;
        vm.prank(address(0xAbCd));
        nft.mint(q);
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

    function test_ownership_TwoStepTransfer() public {
        vm.prank(admin);
        nft.transferOwnership(bob);
        vm.assertEq(nft.owner(), admin, "pending only");
        vm.prank(bob);
        nft.acceptOwnership();
        vm.assertEq(nft.owner(), bob, "accepted");
    }
}
