// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryAccount} from "../../src/accounts/MemoryAccount.sol";
import {IERC6551Account, IERC6551Executable} from "../../src/interfaces/IERC6551.sol";
import {IMemoryAccount} from "../../src/interfaces/IMemoryAccount.sol";
import {IMemoryNFT} from "../../src/interfaces/IMemoryNFT.sol";
import {BaseTest} from "../utils/BaseTest.sol";
import {PlainERC1155, PlainERC721} from "../utils/TestTokens.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {IERC1155Receiver} from "@openzeppelin/contracts/token/ERC1155/IERC1155Receiver.sol";
import {IERC721Receiver} from "@openzeppelin/contracts/token/ERC721/IERC721Receiver.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";

/// @dev A call target that records calls and can revert.
contract Target {
    uint256 public calls;
    uint256 public received;

    error Refused(uint256 code);

    function hit() external payable returns (uint256) {
        ++calls;
        received += msg.value;
        return calls;
    }

    function refuse() external pure {
        revert Refused(7);
    }
}

contract MemoryAccountTest is BaseTest {
    uint256 internal tokenId;
    MemoryAccount internal account;
    Target internal target;

    function setUp() public override {
        super.setUp();
        tokenId = _mintBy(alice);
        account = MemoryAccount(
            payable(registry.createAccount(address(accountImpl), 0, block.chainid, address(nft), tokenId))
        );
        target = new Target();
    }

    function _accountFor(uint256 id) internal returns (MemoryAccount) {
        return MemoryAccount(payable(registry.createAccount(address(accountImpl), 0, block.chainid, address(nft), id)));
    }

    // ------------------------------------------------------------------ binding and ownership

    function test_token_ReadsTheRegistryFooter() public view {
        (uint256 chainId, address tokenContract, uint256 id) = account.token();
        vm.assertEq(chainId, block.chainid, "chain");
        vm.assertEq(tokenContract, address(nft), "token contract");
        vm.assertEq(id, tokenId, "token id");
        vm.assertEq(address(account), nft.accountOf(tokenId), "address");
    }

    function test_owner_FollowsTheNft() public {
        vm.assertEq(account.owner(), alice, "holder");
        vm.prank(alice);
        nft.transferFrom(alice, bob, tokenId);
        vm.assertEq(account.owner(), bob, "new holder");
    }

    function test_owner_ZeroOnAnotherChain() public {
        vm.chainId(1);
        vm.assertEq(account.owner(), address(0), "foreign chain");
        vm.assertEq(account.isValidSigner(alice, ""), bytes4(0), "no signer");
    }

    function test_owner_ZeroForMissingToken() public {
        MemoryAccount ghost = _accountFor(999);
        vm.assertEq(ghost.owner(), address(0), "nonexistent token");
        MemoryAccount foreign =
            MemoryAccount(payable(registry.createAccount(address(accountImpl), 0, block.chainid, address(0xdead), 1)));
        vm.assertEq(foreign.owner(), address(0), "token contract without code");
    }

    function test_isValidSigner() public {
        vm.assertEq(account.isValidSigner(alice, ""), IERC6551Account.isValidSigner.selector, "holder");
        vm.assertEq(account.isValidSigner(bob, ""), bytes4(0), "other");
        vm.assertEq(_accountFor(999).isValidSigner(address(0), ""), bytes4(0), "zero never signs");
    }

    function test_isValidSignature_ByHolder() public {
        bytes32 hash = keccak256("message");
        vm.assertEq(account.isValidSignature(hash, _sign(ALICE_KEY, hash)), IERC1271.isValidSignature.selector, "ok");
        vm.assertEq(account.isValidSignature(hash, _sign(CERTIFIER_KEY, hash)), bytes4(0xffffffff), "other key");
        vm.assertEq(_accountFor(999).isValidSignature(hash, _sign(ALICE_KEY, hash)), bytes4(0xffffffff), "no owner");
        vm.prank(alice);
        nft.transferFrom(alice, bob, tokenId);
        vm.assertEq(account.isValidSignature(hash, _sign(ALICE_KEY, hash)), bytes4(0xffffffff), "former holder");
    }

    // ------------------------------------------------------------------ execute and state

    function test_execute_CallsAndBumpsState() public {
        vm.deal(address(account), 1 ether);
        vm.assertEq(account.state(), 0, "fresh");
        vm.expectEmit(address(account));
        emit IMemoryAccount.Executed(address(target), 0.25 ether, Target.hit.selector, 1);
        vm.prank(alice);
        bytes memory ret = account.execute(address(target), 0.25 ether, abi.encodeCall(Target.hit, ()), 0);
        vm.assertEq(abi.decode(ret, (uint256)), 1, "return data");
        vm.assertEq(target.received(), 0.25 ether, "value sent");
        vm.assertEq(account.state(), 1, "state changed");
        vm.prank(alice);
        account.execute(bob, 0.5 ether, "", 0);
        vm.assertEq(bob.balance, 0.5 ether, "plain transfer");
        vm.assertEq(account.state(), 2, "changes on every execute");
    }

    function test_receive_KeepsState() public {
        vm.deal(bob, 1 ether);
        vm.prank(bob);
        (bool ok,) = address(account).call{value: 1 ether}("");
        vm.assertTrue(ok, "accepts ETH");
        vm.assertEq(address(account).balance, 1 ether, "balance");
        vm.assertEq(account.state(), 0, "incoming ETH does not invalidate listings");
    }

    function test_RevertWhen_ExecuteByNonHolder() public {
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryAccount.NotAuthorized.selector, bob));
        account.execute(address(target), 0, "", 0);
    }

    function test_RevertWhen_ExecuteNonCallOperation() public {
        for (uint8 op = 1; op < 4; ++op) {
            vm.prank(alice);
            vm.expectRevert(abi.encodeWithSelector(IMemoryAccount.OperationNotSupported.selector, op));
            account.execute(address(target), 0, "", op);
        }
    }

    function test_RevertWhen_ExecuteTargetReverts() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Target.Refused.selector, 7));
        account.execute(address(target), 0, abi.encodeCall(Target.refuse, ()), 0);
        vm.assertEq(account.state(), 0, "state rolled back");
    }

    function testFuzz_execute_OnlyHolder(address caller) public {
        vm.assume(caller != alice);
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(IMemoryAccount.NotAuthorized.selector, caller));
        account.execute(address(target), 0, "", 0);
    }

    // ------------------------------------------------------------------ receiving tokens, cycles

    function test_receives_Erc721AndErc1155() public {
        uint256 other = _mintBy(alice);
        vm.prank(alice);
        nft.safeTransferFrom(alice, address(account), other);
        vm.assertEq(nft.ownerOf(other), address(account), "erc721");

        PlainERC1155 multi = new PlainERC1155();
        multi.mint(address(account), 7, 3);
        vm.assertEq(multi.balanceOf(address(account), 7), 3, "erc1155");
        uint256[] memory ids = new uint256[](2);
        uint256[] memory amounts = new uint256[](2);
        ids[0] = 8;
        ids[1] = 9;
        amounts[0] = 1;
        amounts[1] = 2;
        multi.mint(alice, 8, 1);
        multi.mint(alice, 9, 2);
        vm.prank(alice);
        multi.safeBatchTransferFrom(alice, address(account), ids, amounts, "");
        vm.assertEq(multi.balanceOf(address(account), 9), 2, "erc1155 batch");
    }

    /// @dev A plain ERC-721 (no transfer guard) safe-transferred into its own token's account.
    function test_RevertWhen_TokenSentIntoItsOwnAccount() public {
        PlainERC721 plain = new PlainERC721();
        uint256 id = plain.mint(alice);
        address own = registry.createAccount(address(accountImpl), 0, block.chainid, address(plain), id);
        vm.prank(alice);
        vm.expectRevert(IMemoryAccount.OwnershipCycle.selector);
        plain.safeTransferFrom(alice, own, id);
    }

    /// @dev a's account holds b; sending a into b's account would close the loop a -> b -> a.
    function test_RevertWhen_IndirectCycle() public {
        uint256 b = _mintBy(alice);
        MemoryAccount accountB = _accountFor(b);
        vm.prank(alice);
        nft.safeTransferFrom(alice, address(account), b);
        vm.assertEq(accountB.owner(), address(account), "b held by a's account");
        vm.prank(alice);
        vm.expectRevert(IMemoryAccount.OwnershipCycle.selector);
        nft.safeTransferFrom(alice, address(accountB), tokenId);
    }

    function test_RevertWhen_OwnershipChainTooDeep() public {
        // t[0] <- account(t[1]) <- ... : each token held by the next token's account.
        uint256 depth = account.MAX_OWNERSHIP_DEPTH() + 1;
        uint256[] memory t = new uint256[](depth + 1);
        t[0] = tokenId;
        for (uint256 i = 1; i <= depth; ++i) {
            t[i] = _mintBy(alice);
            address next = address(_accountFor(t[i]));
            vm.prank(alice);
            nft.transferFrom(alice, next, t[i - 1]);
        }
        uint256 gift = _mintBy(alice);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IMemoryAccount.OwnershipChainTooDeep.selector, 16));
        nft.safeTransferFrom(alice, address(account), gift);
    }

    function test_onERC721Received_StopsAtNonAccountContract() public {
        // The bound token is held by a contract that is not an account: no cycle, accepted.
        vm.prank(alice);
        nft.transferFrom(alice, address(target), tokenId);
        uint256 gift = _mintBy(alice);
        vm.prank(alice);
        nft.safeTransferFrom(alice, address(account), gift);
        vm.assertEq(nft.ownerOf(gift), address(account), "accepted");
    }

    function test_supportsInterface() public view {
        vm.assertTrue(account.supportsInterface(type(IERC165).interfaceId), "165");
        vm.assertTrue(account.supportsInterface(0x6faff5f1), "6551 account");
        vm.assertEq(type(IERC6551Account).interfaceId, bytes4(0x6faff5f1), "id of IERC6551Account");
        vm.assertTrue(account.supportsInterface(0x51945447), "6551 executable");
        vm.assertEq(type(IERC6551Executable).interfaceId, bytes4(0x51945447), "id of IERC6551Executable");
        vm.assertTrue(account.supportsInterface(type(IERC721Receiver).interfaceId), "721 receiver");
        vm.assertTrue(account.supportsInterface(type(IERC1155Receiver).interfaceId), "1155 receiver");
        vm.assertTrue(account.supportsInterface(type(IERC1271).interfaceId), "1271");
        vm.assertFalse(account.supportsInterface(0xffffffff), "not ffffffff");
    }

    function test_mintParamsCreateAccount_SameAddress() public {
        IMemoryNFT.MintParams memory p = _params(bob, keccak256("y"), new uint256[](0));
        p.createAccount = true;
        vm.prank(bob);
        uint256 id = nft.mint(p);
        vm.assertEq(MemoryAccount(payable(nft.accountOf(id))).owner(), bob, "created at accountOf");
    }
}
