// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryAccount} from "../../src/accounts/MemoryAccount.sol";
import {IERC6551Account, IERC6551Executable} from "../../src/interfaces/IERC6551.sol";
import {IMemoryAccount} from "../../src/interfaces/IMemoryAccount.sol";
import {IMemoryNFT} from "../../src/interfaces/IMemoryNFT.sol";
import {AccountSig} from "../utils/AccountSig.sol";
import {BaseTest} from "../utils/BaseTest.sol";
import {PermitERC20, PlainERC1155, PlainERC721} from "../utils/TestTokens.sol";
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
        vm.assertFalse(account.isLocked(), "a foreign chain's token is never locked here");
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
        _list(alice, tokenId, 1 ether);
        vm.assertEq(account.isValidSigner(alice, ""), bytes4(0), "not while locked");
    }

    // ------------------------------------------------------------------ ERC-1271 (ERC-7739 nested typed data)

    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    /// @dev The account's own EIP-712 domain, in which ERC-7739 nests what its holder signs.
    function _domainOf(address acct) internal view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256("MemoryAccount"), keccak256("1"), block.chainid, acct));
    }

    function test_eip712Domain_IsTheAccountsOwn() public view {
        (, string memory name, string memory version, uint256 chainId, address verifying, bytes32 salt,) =
            account.eip712Domain();
        vm.assertEq(name, "MemoryAccount", "name");
        vm.assertEq(version, "1", "version");
        vm.assertEq(chainId, block.chainid, "chain");
        vm.assertEq(verifying, address(account), "the account (the proxy), not the implementation");
        vm.assertEq(salt, bytes32(0), "no salt");
        bytes32 detect = 0x7739773977397739773977397739773977397739773977397739773977397739;
        vm.assertEq(account.isValidSignature(detect, ""), bytes4(0x77390001), "ERC-7739 detection");
    }

    function test_isValidSignature_PersonalSignByHolder() public {
        bytes32 hash = keccak256("message");
        bytes memory sig = AccountSig.personalSign(ALICE_KEY, address(account), hash);
        vm.assertEq(account.isValidSignature(hash, sig), IERC1271.isValidSignature.selector, "holder");
        vm.assertEq(
            account.isValidSignature(hash, AccountSig.personalSign(CERTIFIER_KEY, address(account), hash)),
            bytes4(0xffffffff),
            "other key"
        );
        vm.assertEq(account.isValidSignature(keccak256("other"), sig), bytes4(0xffffffff), "other hash");
        MemoryAccount ghost = _accountFor(999);
        vm.assertEq(
            ghost.isValidSignature(hash, AccountSig.personalSign(ALICE_KEY, address(ghost), hash)),
            bytes4(0xffffffff),
            "no owner"
        );
        vm.prank(alice);
        nft.transferFrom(alice, bob, tokenId);
        vm.assertEq(account.isValidSignature(hash, sig), bytes4(0xffffffff), "former holder");
    }

    /// @dev Before ERC-7739 the holder's plain signature of `hash` was the account's signature.
    function test_isValidSignature_RejectsAPlainSignature() public view {
        bytes32 hash = keccak256("message");
        vm.assertEq(account.isValidSignature(hash, _sign(ALICE_KEY, hash)), bytes4(0xffffffff), "plain");
    }

    /// @dev One holder, two accounts: a signature for one is not a signature of the other.
    function test_isValidSignature_BoundToTheAccount() public {
        MemoryAccount other = _accountFor(_mintBy(alice));
        bytes32 hash = keccak256("message");
        bytes memory sig = AccountSig.personalSign(ALICE_KEY, address(account), hash);
        vm.assertEq(account.isValidSignature(hash, sig), IERC1271.isValidSignature.selector, "for this account");
        vm.assertEq(other.isValidSignature(hash, sig), bytes4(0xffffffff), "not for the other");
    }

    /// @dev The `TypedDataSign` workflow: a wallet shows the permit's fields, nested in the account's domain;
    ///      a permit checked through ERC-1271 accepts it.
    function test_isValidSignature_NestedTypedDataByHolder() public {
        PermitERC20 token = new PermitERC20();
        uint256 deadline = block.timestamp + 1 days;
        bytes32 appDomain = keccak256(abi.encode(keccak256("PermitERC20"), block.chainid, address(token)));
        bytes32 contents = keccak256(abi.encode(token.PERMIT_TYPEHASH(), bob, 100, 0, deadline));
        bytes32 hash = token.permitDigest(bob, 100, 0, deadline);
        vm.assertEq(hash, keccak256(abi.encodePacked("\x19\x01", appDomain, contents)), "the app's digest");

        bytes memory contentsType = "Permit(address spender,uint256 value,uint256 nonce,uint256 deadline)";
        bytes32 typedDataSign = keccak256(
            abi.encodePacked(
                "TypedDataSign(Permit contents,string name,string version,uint256 chainId,address verifyingContract,"
                "bytes32 salt)",
                contentsType
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                typedDataSign,
                contents,
                keccak256("MemoryAccount"),
                keccak256("1"),
                block.chainid,
                address(account),
                bytes32(0)
            )
        );
        (uint8 v, bytes32 r, bytes32 sigS) =
            vm.sign(ALICE_KEY, keccak256(abi.encodePacked("\x19\x01", appDomain, structHash)));
        bytes memory sig = abi.encodePacked(r, sigS, v, appDomain, contents, contentsType, uint16(contentsType.length));
        vm.assertEq(account.isValidSignature(hash, sig), IERC1271.isValidSignature.selector, "nested typed data");

        token.permit(address(account), bob, 100, deadline, sig);
        vm.assertEq(token.allowance(address(account), bob), 100, "the permit went through");
    }

    function test_isValidSignature_InvalidWhileLocked() public {
        bytes32 hash = keccak256("message");
        bytes memory sig = AccountSig.personalSign(ALICE_KEY, address(account), hash);
        _list(alice, tokenId, 1 ether);
        vm.assertEq(account.isValidSignature(hash, sig), bytes4(0xffffffff), "locked");
        vm.prank(alice);
        market.cancel(tokenId);
        vm.assertEq(account.isValidSignature(hash, sig), IERC1271.isValidSignature.selector, "unlocked");
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

    // ------------------------------------------------------------------ lock while listed

    function test_isLocked_WhileTheTokenHasALiveListing() public {
        vm.assertFalse(account.isLocked(), "not listed");
        _list(alice, tokenId, 1 ether);
        vm.assertTrue(account.isLocked(), "listed");
        vm.prank(alice);
        market.cancel(tokenId);
        vm.assertFalse(account.isLocked(), "cancelled");
        _list(alice, tokenId, 1 ether);
        vm.warp(market.listingOf(tokenId).expiresAt + 1);
        vm.assertFalse(account.isLocked(), "expired");
        _list(alice, tokenId, 1 ether);
        _buy(bob, tokenId, 1 ether);
        vm.assertFalse(account.isLocked(), "sold");
        vm.prank(bob);
        account.execute(address(target), 0, abi.encodeCall(Target.hit, ()), 0);
        vm.assertEq(target.calls(), 1, "the buyer uses the account at once");
    }

    function test_RevertWhen_ExecuteWhileLocked() public {
        vm.deal(address(account), 1 ether);
        _list(alice, tokenId, 1 ether);
        vm.prank(alice);
        vm.expectRevert(IMemoryAccount.AccountLocked.selector);
        account.execute(alice, 1 ether, "", 0);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryAccount.NotAuthorized.selector, bob));
        account.execute(bob, 1 ether, "", 0);
        vm.assertEq(account.state(), 0, "state unchanged");
        vm.prank(alice);
        market.cancel(tokenId);
        vm.prank(alice);
        account.execute(alice, 1 ether, "", 0);
        vm.assertEq(alice.balance, 1 ether, "unlocked with the listing");
    }

    /// @dev Starving the lock check (63/64 rule: a failed check reads as "unlocked") leaves the account too
    ///      little gas to change anything: at no gas limit does `execute` get through while listed. The
    ///      sweep goes one gas at a time from nothing to past the point where the check completes (and
    ///      reverts AccountLocked from there on), so it crosses every limit at which the check can fail.
    function test_execute_LockHoldsAtEveryGasLimit() public {
        vm.deal(address(account), 1 ether);
        _list(alice, tokenId, 1 ether);
        bytes memory data = abi.encodeCall(MemoryAccount.execute, (alice, 1 ether, "", uint8(0)));
        uint256 firstLocked;
        for (uint256 gasLimit; gasLimit < 20_000; ++gasLimit) {
            vm.prank(alice);
            (bool ok, bytes memory ret) = address(account).call{gas: gasLimit}(data);
            vm.assertFalse(ok, "never executes while listed");
            bool locked = ret.length == 4 && bytes4(ret) == IMemoryAccount.AccountLocked.selector;
            if (firstLocked == 0 && locked) firstLocked = gasLimit;
            if (firstLocked != 0) vm.assertTrue(locked, "once the check completes, it says locked");
        }
        vm.assertGt(firstLocked, 0, "the sweep reaches the complete check");
        vm.assertEq(account.state(), 0, "state unchanged");
        vm.assertEq(address(account).balance, 1 ether, "ETH stays");
        // Unlocked, the same call goes through: the failures above are the lock's.
        vm.prank(alice);
        market.cancel(tokenId);
        vm.prank(alice);
        (bool unlocked,) = address(account).call{gas: 100_000}(data);
        vm.assertTrue(unlocked, "executes once unlocked");
    }

    /// @dev An account bound to another ERC-721 (no `accountLocked`) is never locked.
    function test_isLocked_FalseForAnotherTokenContract() public {
        PlainERC721 plain = new PlainERC721();
        uint256 id = plain.mint(alice);
        MemoryAccount foreign =
            MemoryAccount(payable(registry.createAccount(address(accountImpl), 0, block.chainid, address(plain), id)));
        vm.assertFalse(foreign.isLocked(), "not locked");
        vm.prank(alice);
        foreign.execute(address(target), 0, abi.encodeCall(Target.hit, ()), 0);
        vm.assertEq(foreign.state(), 1, "executes");
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

    /// @dev a's account holds b; sending a into b's account would close the loop a -> b -> a. MemoryNFT
    ///      refuses the transfer itself, before the account's receiver check runs.
    function test_RevertWhen_IndirectCycle() public {
        uint256 b = _mintBy(alice);
        MemoryAccount accountB = _accountFor(b);
        vm.prank(alice);
        nft.safeTransferFrom(alice, address(account), b);
        vm.assertEq(accountB.owner(), address(account), "b held by a's account");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.TransferToOwnAccount.selector, tokenId));
        nft.safeTransferFrom(alice, address(accountB), tokenId);
    }

    /// @dev The account's own check, for a token contract without a transfer guard (a plain ERC-721).
    function test_RevertWhen_IndirectCycleOfAPlainToken() public {
        PlainERC721 plain = new PlainERC721();
        uint256 x = plain.mint(alice);
        uint256 y = plain.mint(alice);
        address accountX = registry.createAccount(address(accountImpl), 0, block.chainid, address(plain), x);
        address accountY = registry.createAccount(address(accountImpl), 0, block.chainid, address(plain), y);
        vm.prank(alice);
        plain.safeTransferFrom(alice, accountX, y);
        vm.prank(alice);
        vm.expectRevert(IMemoryAccount.OwnershipCycle.selector);
        plain.safeTransferFrom(alice, accountY, x);
    }

    /// @dev The account's own depth bound, on a chain of plain ERC-721 accounts (MemoryNFT's own bound on
    ///      transfers is tested in MemoryNFT.t.sol).
    function test_RevertWhen_OwnershipChainTooDeep() public {
        // p[0] <- account(p[1]) <- ... : each token held by the next token's account.
        PlainERC721 plain = new PlainERC721();
        uint256 depth = account.MAX_OWNERSHIP_DEPTH() + 1;
        uint256[] memory p = new uint256[](depth + 1);
        p[0] = plain.mint(alice);
        address bottom = registry.createAccount(address(accountImpl), 0, block.chainid, address(plain), p[0]);
        for (uint256 i = 1; i <= depth; ++i) {
            p[i] = plain.mint(alice);
            address next = registry.createAccount(address(accountImpl), 0, block.chainid, address(plain), p[i]);
            vm.prank(alice);
            plain.transferFrom(alice, next, p[i - 1]);
        }
        uint256 gift = plain.mint(alice);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IMemoryAccount.OwnershipChainTooDeep.selector, 16));
        plain.safeTransferFrom(alice, bottom, gift);
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
        uint256 id = _mintWith(bob, p);
        vm.assertEq(MemoryAccount(payable(nft.accountOf(id))).owner(), bob, "created at accountOf");
    }
}
