// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryAccount} from "../../src/accounts/MemoryAccount.sol";
import {IMemoryAccount} from "../../src/interfaces/IMemoryAccount.sol";
import {IMemoryMarket} from "../../src/interfaces/IMemoryMarket.sol";
import {IMemoryNFT} from "../../src/interfaces/IMemoryNFT.sol";
import {AccountSig} from "../utils/AccountSig.sol";
import {BaseTest} from "../utils/BaseTest.sol";
import {ForceSend, PermitERC20} from "../utils/TestTokens.sol";

/// @notice A contract seller/creator that can make calls but cannot receive ETH.
contract NoReceive {
    function exec(address target, uint256 value, bytes calldata data) external payable returns (bytes memory ret) {
        bool ok;
        (ok, ret) = target.call{value: value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }
}

/// @notice An ERC-6551 account implementation of someone else's whose `execute` a session key may call:
///         anybody can create an account with any implementation for any token through the registry.
contract SessionKeyAccount {
    address public immutable sessionKey;

    constructor(address sessionKey_) {
        sessionKey = sessionKey_;
    }

    receive() external payable {}

    function token() public view returns (uint256 chainId, address tokenContract, uint256 tokenId) {
        bytes memory footer = new bytes(0x60);
        assembly ("memory-safe") {
            extcodecopy(address(), add(footer, 0x20), 0x4d, 0x60)
        }
        return abi.decode(footer, (uint256, address, uint256));
    }

    function execute(address to, uint256 value, bytes calldata data) external returns (bytes memory ret) {
        require(msg.sender == sessionKey, "not the session key");
        bool ok;
        (ok, ret) = to.call{value: value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }
}

/// @title Attacks
/// @notice The attacks of the security review (issue 8), one test each, named after the attack. The same
///         attacks written against the contracts before the fix succeeded: see commit 6801fb9
///         (contracts/test/attacks/BaseExploits.t.sol, each `test_exploitNN` passed there) and the attack
///         table in docs/contracts.md.
contract Attacks is BaseTest {
    uint256 internal constant MALLORY_KEY = 0xBAD;
    uint256 internal constant CERTIFIER2_KEY = 0xC3E8;

    address internal mallory;

    function setUp() public override {
        super.setUp();
        mallory = vm.addr(MALLORY_KEY);
        vm.label(mallory, "mallory");
    }

    function _account(uint256 id) internal returns (MemoryAccount) {
        return MemoryAccount(payable(registry.createAccount(address(accountImpl), 0, block.chainid, address(nft), id)));
    }

    // ------------------------------------------------------------------ 1

    /// Attack 1: the seller sees bob's pending buy, empties the account and re-lists at the same price.
    function test_attack01_DrainAndRelistInFrontOfABuyerReverts() public {
        uint256 id = _mintBy(alice);
        MemoryAccount acct = _account(id);
        vm.deal(address(acct), 5 ether);
        uint256 seen = _list(alice, id, 1 ether); // bob reads: listing `seen`, account with 5 ETH
        vm.startPrank(alice);
        vm.expectRevert(IMemoryAccount.AccountLocked.selector); // listed: the account cannot move
        acct.execute(alice, 5 ether, "", 0);
        market.cancel(id); // so the seller cancels first, drains, and re-lists at the same price
        acct.execute(alice, 5 ether, "", 0);
        uint256 relisted = market.list(id, 1 ether, _expiry());
        vm.stopPrank();
        vm.deal(bob, 1 ether);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.ListingChanged.selector, id, seen, relisted));
        market.buy{value: 1 ether}(id, seen);
    }

    // ------------------------------------------------------------------ 2

    /// Attack 2a: an approval the account granted lets someone pull assets while the token is listed. The
    /// lock stops new approvals and uses while listed; an approval granted before listing stays a
    /// residual risk that the indexer, `memory show` and `memory buy` surface (docs/contracts.md).
    function test_attack02a_ApprovalGrantedWhileListedIsImpossible() public {
        PermitERC20 token = new PermitERC20();
        uint256 id = _mintBy(alice);
        MemoryAccount acct = _account(id);
        token.mint(address(acct), 100);
        _list(alice, id, 1 ether);
        vm.prank(alice);
        vm.expectRevert(IMemoryAccount.AccountLocked.selector);
        acct.execute(address(token), 0, abi.encodeCall(token.approve, (mallory, 100)), 0);
        vm.assertTrue(acct.isLocked(), "locked while listed");
    }

    /// Attack 2b: the holder's signature as the account's ERC-1271 signature: a permit drains the account
    /// without any `execute`. While listed no signature of the account is valid.
    function test_attack02b_PermitDrainWhileListedReverts() public {
        PermitERC20 token = new PermitERC20();
        uint256 id = _mintBy(alice);
        MemoryAccount acct = _account(id);
        token.mint(address(acct), 100);
        _list(alice, id, 1 ether);
        uint256 deadline = block.timestamp + 1 days;
        bytes32 digest = token.permitDigest(mallory, 100, 0, deadline);
        bytes memory nested = AccountSig.personalSign(ALICE_KEY, address(acct), digest); // even the account-bound form
        vm.prank(mallory);
        vm.expectRevert(bytes("bad signature"));
        token.permit(address(acct), mallory, 100, deadline, nested);
        vm.assertEq(acct.isValidSignature(digest, nested), bytes4(0xffffffff), "no signature while locked");
        _buy(bob, id, 1 ether);
        vm.assertEq(token.balanceOf(address(acct)), 100, "bob got the tokens he saw");
        vm.assertEq(
            acct.isValidSignature(digest, AccountSig.personalSign(uint256(0xB0B0), address(acct), digest)),
            bytes4(0xffffffff),
            "not alice's any more"
        );
    }

    /// Attack 2c: a listing made by an account survives the sale of the account's token, and the old
    /// holder buys the account's asset out for 1 wei. The listing dies when the account's owners change.
    function test_attack02c_AccountListingDiesWithTheParentSale() public {
        uint256 parent = _mintBy(alice);
        MemoryAccount parentAcct = _account(parent);
        uint256 child = _mintBy(alice);
        vm.prank(alice);
        nft.transferFrom(alice, address(parentAcct), child);
        vm.startPrank(alice); // the account lists its own asset for 1 wei
        parentAcct.execute(address(nft), 0, abi.encodeCall(nft.approve, (address(market), child)), 0);
        parentAcct.execute(address(market), 0, abi.encodeCall(market.list, (child, 1, _expiry())), 0);
        vm.stopPrank();
        uint256 childListing = market.listingOf(child).listingId;
        _list(alice, parent, 1 ether);
        vm.deal(alice, 1);
        vm.prank(alice); // while the parent is listed, its buyer was promised the child
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.SellerAccountLocked.selector, child));
        market.buy{value: 1}(child, childListing);
        _buy(bob, parent, 1 ether); // bob buys the parent expecting the child inside its account
        vm.assertFalse(market.listingOf(child).live, "the account's listing is dead");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.SellerOwnerChanged.selector, child));
        market.buy{value: 1}(child, childListing);
        vm.assertEq(nft.ownerOf(child), address(parentAcct), "the child stays in bob's account");
    }

    // ------------------------------------------------------------------ 3

    /// Attack 3: with setApprovalForAll, seller -> X -> seller revives the old listing at the old price.
    function test_attack03_StaleListingDoesNotComeBack() public {
        uint256 id = _mintBy(alice);
        vm.startPrank(alice);
        nft.setApprovalForAll(address(market), true);
        uint256 listingId = market.list(id, 1 ether, _expiry());
        nft.transferFrom(alice, carol, id);
        vm.stopPrank();
        vm.prank(carol);
        nft.transferFrom(carol, alice, id);
        vm.assertFalse(market.isListingLive(id), "a transfer killed the listing");
        vm.deal(bob, 1 ether);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.ListingStale.selector, id));
        market.buy{value: 1 ether}(id, listingId);
    }

    /// Attack 3, second half: a listing forgotten for months cannot be bought after its expiry.
    function test_attack03_ExpiredListingCannotBeBought() public {
        uint256 id = _mintBy(alice);
        uint256 listingId = _list(alice, id, 1 ether);
        uint64 expiresAt = market.listingOf(id).expiresAt;
        vm.warp(uint256(expiresAt) + 1);
        vm.deal(bob, 1 ether);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.ListingExpired.selector, id, expiresAt));
        market.buy{value: 1 ether}(id, listingId);
    }

    // ------------------------------------------------------------------ 4

    /// Attack 4: mallory sees alice's pending mint and copies it. With commit-reveal she needs an older
    /// commitment of her own, which she cannot have made before seeing the checksum; and a plain mint
    /// without a commitment does not exist.
    function test_attack04_ChecksumFrontRunNeedsAnOlderCommitment() public {
        bytes32 checksum = keccak256("alice's W-Matrix");
        IMemoryNFT.MintParams memory p = _params(alice, checksum, new uint256[](0));
        _commit(alice, p); // block N: alice's commitment hides the checksum
        // Block N+1: alice's reveal is pending; mallory copies its checksum into her own mint.
        IMemoryNFT.MintParams memory copy = _params(mallory, checksum, new uint256[](0));
        copy.salt = p.salt;
        bytes32 hers = nft.mintCommitment(checksum, mallory, p.salt);
        vm.prank(mallory);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.UnknownCommitment.selector, hers));
        nft.mint(copy); // alice's commitment binds alice: it cannot be revealed by mallory
        vm.prank(mallory);
        nft.commitMint(hers); // a fresh commitment is too new to reveal in this block
        vm.prank(mallory);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.CommitmentTooNew.selector, hers, block.number + 1));
        nft.mint(copy);
        vm.prank(alice);
        uint256 id = nft.mint(p); // alice's reveal lands first
        vm.assertEq(nft.memoryOf(id).creator, alice, "alice is the creator");
    }

    /// Attack 4, certificate half: even if mallory mints an artifact's checksum first (e.g. a public
    /// file), the certificate issued for alice's work names alice and cannot anchor on mallory's token.
    function test_attack04_CertificateDoesNotAnchorOnTheFrontRunnersToken() public {
        bytes32 checksum = keccak256("a public W-Matrix");
        uint256 id = _mintWith(mallory, _params(mallory, checksum, new uint256[](0)));
        IMemoryNFT.Certificate memory c = _cert(checksum, alice); // certified for alice
        bytes memory sig = _sign(CERTIFIER_KEY, nft.hashCertificate(c));
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.CertificateCreatorMismatch.selector, alice, mallory));
        nft.anchorCertificate(id, c, sig);
    }

    // ------------------------------------------------------------------ 5

    /// Attack 5: a second certifier signs the same figures, anchors first and revokes: with the certifier
    /// inside the signed struct that is another certificate, and the honest one still anchors.
    function test_attack05_SecondCertifierCannotHijackTheCertificate() public {
        address certifier2 = vm.addr(CERTIFIER2_KEY);
        vm.prank(admin);
        nft.setCertifier(certifier2, true);
        uint256 id = _mintBy(alice);
        IMemoryNFT.Certificate memory honest = _certFor(id);
        bytes memory honestSig = _sign(CERTIFIER_KEY, nft.hashCertificate(honest));
        // certifier2 signs the honest struct as is: not its certificate.
        bytes memory stolen = _sign(CERTIFIER2_KEY, nft.hashCertificate(honest));
        vm.expectRevert(IMemoryNFT.InvalidSignature.selector);
        nft.anchorCertificate(id, honest, stolen);
        // certifier2 signs the same figures under its own name: another digest, anchored and revoked.
        IMemoryNFT.Certificate memory copy = _certFor(id); // same figures (a fresh struct, not an alias)
        copy.certifier = certifier2;
        bytes32 copyDigest = nft.anchorCertificate(id, copy, _sign(CERTIFIER2_KEY, nft.hashCertificate(copy)));
        vm.prank(certifier2);
        nft.revokeCertificate(copyDigest);
        bytes32 digest = nft.anchorCertificate(id, honest, honestSig);
        (, address by, bool revoked,) = nft.certificateOf(digest);
        vm.assertEq(by, certifier, "the honest certificate is the honest certifier's");
        vm.assertFalse(revoked, "and nobody else revoked it");
    }

    // ------------------------------------------------------------------ 6

    /// Attack 6: one signature of the holder was valid for every account the holder controls.
    function test_attack06_Erc1271SignatureDoesNotReplayAcrossAccounts() public {
        MemoryAccount a = _account(_mintBy(alice));
        MemoryAccount b = _account(_mintBy(alice));
        bytes32 hash = keccak256("a Permit2-style message that does not name the owner");
        vm.assertEq(a.isValidSignature(hash, _sign(ALICE_KEY, hash)), bytes4(0xffffffff), "a plain signature is void");
        bytes memory forA = AccountSig.personalSign(ALICE_KEY, address(a), hash);
        vm.assertEq(a.isValidSignature(hash, forA), bytes4(0x1626ba7e), "valid for a");
        vm.assertEq(b.isValidSignature(hash, forA), bytes4(0xffffffff), "not replayable for b");
    }

    // ------------------------------------------------------------------ 7

    /// Attack 7: a creator contract that cannot receive ETH had its credit stuck for ever.
    function test_attack07_StuckCreditLeavesByWithdrawTo() public {
        NoReceive creator = new NoReceive();
        uint256 id = _mintWith(address(creator), _params(alice, _nextChecksum(), new uint256[](0)));
        _list(alice, id, 1 ether);
        _buy(bob, id, 1 ether);
        uint256 owed = market.owedTo(address(creator));
        vm.assertGt(owed, 0, "credited");
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.WithdrawFailed.selector, address(creator), owed));
        creator.exec(address(market), 0, abi.encodeCall(market.withdraw, ()));
        uint256 before = carol.balance;
        creator.exec(address(market), 0, abi.encodeCall(market.withdrawTo, (payable(carol))));
        vm.assertEq(carol.balance - before, owed, "the credit reached the address the creator chose");
        vm.assertEq(market.totalOwed(), 0, "ledger empty");
    }

    // ------------------------------------------------------------------ 8

    /// Attack 8: an account nested under the sold token (here one with someone else's implementation and
    /// a session key) buys the token: an ownership cycle that locks both for ever. Refused.
    function test_attack08_BuyerNestedUnderTheTokenCannotBuyIt() public {
        uint256 top = _mintBy(alice);
        MemoryAccount topAcct = _account(top);
        uint256 inner = _mintBy(alice);
        vm.prank(alice);
        nft.transferFrom(alice, address(topAcct), inner);
        SessionKeyAccount innerAcct = SessionKeyAccount(
            payable(registry.createAccount(
                    address(new SessionKeyAccount(alice)), 0, block.chainid, address(nft), inner
                ))
        );
        vm.deal(address(innerAcct), 1 ether);
        uint256 listingId = _list(alice, top, 1 ether);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.TransferToOwnAccount.selector, top));
        innerAcct.execute(address(market), 1 ether, abi.encodeCall(market.buy, (top, listingId)));
        vm.assertEq(nft.ownerOf(top), alice, "no cycle");
    }

    /// Attack 8 outside the market: the same cycle by a plain transfer is refused too.
    function test_attack08_TransferIntoANestedAccountIsRefused() public {
        uint256 top = _mintBy(alice);
        MemoryAccount topAcct = _account(top);
        uint256 inner = _mintBy(alice);
        MemoryAccount innerAcct = _account(inner);
        vm.startPrank(alice);
        nft.transferFrom(alice, address(topAcct), inner);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.TransferToOwnAccount.selector, top));
        nft.transferFrom(alice, address(innerAcct), top);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ 9

    /// Attack 9a: a certificate "issued" in the future anchors today.
    function test_attack09_FutureIssuedAtIsRejected() public {
        uint256 id = _mintBy(alice);
        IMemoryNFT.Certificate memory c = _certFor(id);
        c.issuedAt = uint64(block.timestamp + 30 days);
        bytes memory sig = _sign(CERTIFIER_KEY, nft.hashCertificate(c));
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.CertificateNotYetIssued.selector, c.issuedAt));
        nft.anchorCertificate(id, c, sig);
    }

    /// Attack 9b: `certificateOf` did not say when a certificate expires.
    function test_attack09_CertificateOfReturnsTheExpiry() public {
        uint256 id = _mintBy(alice);
        IMemoryNFT.Certificate memory c = _certFor(id);
        bytes32 digest = nft.anchorCertificate(id, c, _sign(CERTIFIER_KEY, nft.hashCertificate(c)));
        (,,, uint64 expiresAt) = nft.certificateOf(digest);
        vm.assertEq(expiresAt, c.expiresAt, "expiry");
    }

    /// Attack 9c: one accidental call of the admin left the certifier list unmanageable for ever.
    function test_attack09_AdminCannotBeRenounced() public {
        vm.prank(admin);
        vm.expectRevert(IMemoryNFT.RenounceDisabled.selector);
        nft.renounceOwnership();
        vm.assertEq(nft.owner(), admin, "still managed");
    }

    /// Attack 9d: ETH forced into the market broke `balance == totalOwed`; it is surplus now, apart from the
    /// ledger, and the ledger keeps working.
    function test_attack09_ForcedEthStaysOutOfTheLedger() public {
        NoReceive creator = new NoReceive();
        uint256 id = _mintWith(address(creator), _params(alice, _nextChecksum(), new uint256[](0)));
        _list(alice, id, 1 ether);
        _buy(bob, id, 1 ether);
        uint256 owed = market.totalOwed();
        new ForceSend{value: 3 wei}(payable(address(market)));
        vm.assertEq(market.surplus(), 3, "forced ETH is surplus");
        vm.assertEq(market.totalOwed(), owed, "ledger unchanged");
        creator.exec(address(market), 0, abi.encodeCall(market.withdrawTo, (payable(carol))));
        vm.assertEq(address(market).balance, 3, "only the surplus is left");
        vm.assertEq(market.surplus(), 3, "and it is still surplus");
    }
}
