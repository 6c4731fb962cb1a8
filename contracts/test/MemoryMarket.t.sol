// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryMarket} from "../src/MemoryMarket.sol";
import {MemoryNFT} from "../src/MemoryNFT.sol";
import {MemoryAccount} from "../src/accounts/MemoryAccount.sol";
import {IMemoryAccount} from "../src/interfaces/IMemoryAccount.sol";
import {IMemoryMarket} from "../src/interfaces/IMemoryMarket.sol";
import {IMemoryNFT} from "../src/interfaces/IMemoryNFT.sol";
import {Actor, BoundElsewhere} from "./utils/Actor.sol";
import {BaseTest} from "./utils/BaseTest.sol";
import {ForceSend, PlainERC721} from "./utils/TestTokens.sol";
import {Vm} from "./utils/Vm.sol";
import {IERC721Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

contract MemoryMarketTest is BaseTest {
    uint256 internal constant PRICE = 10 ether;

    function _account(uint256 id) internal returns (MemoryAccount) {
        return MemoryAccount(payable(registry.createAccount(address(accountImpl), 0, block.chainid, address(nft), id)));
    }

    // ------------------------------------------------------------------ constructor

    function test_constructor_ReadsTheNft() public view {
        vm.assertEq(address(market.nft()), address(nft), "nft");
        vm.assertEq(market.accountImplementation(), address(accountImpl), "impl");
        vm.assertEq(market.totalOwed(), 0, "empty ledger");
        vm.assertEq(market.lastListingId(), 0, "no listing yet");
        vm.assertEq(market.MAX_LISTING_DURATION(), 180 days, "max duration");
    }

    // ------------------------------------------------------------------ list

    function test_list_RecordsAndEmits() public {
        uint256 id = _mintBy(alice);
        uint64 expiresAt = _expiry();
        vm.startPrank(alice);
        nft.approve(address(market), id);
        vm.expectEmit(address(market));
        emit IMemoryMarket.Listed(id, 1, alice, PRICE, expiresAt, 0, 0);
        uint256 listingId = market.list(id, PRICE, expiresAt);
        vm.assertEq(listingId, 1, "first listing id");
        IMemoryMarket.ListingView memory v = market.listingOf(id);
        vm.assertEq(v.listingId, 1, "id");
        vm.assertEq(v.seller, alice, "seller");
        vm.assertEq(v.price, PRICE, "price");
        vm.assertEq(v.expiresAt, expiresAt, "expiry");
        vm.assertEq(v.transferCount, 0, "transfer count");
        vm.assertEq(v.accountState, 0, "no account yet");
        vm.assertTrue(v.live, "live");
        vm.assertTrue(market.isListingLive(id), "isListingLive");

        vm.expectEmit(address(market));
        emit IMemoryMarket.Listed(id, 2, alice, 2 ether, expiresAt + 1, 0, 0);
        vm.assertEq(market.list(id, 2 ether, expiresAt + 1), 2, "re-list gets a new id");
        vm.stopPrank();
        v = market.listingOf(id);
        vm.assertEq(v.listingId, 2, "re-list replaces");
        vm.assertEq(v.price, 2 ether, "new price");
        vm.assertEq(v.expiresAt, expiresAt + 1, "new expiry");
        vm.assertEq(market.lastListingId(), 2, "counter");
    }

    function test_list_IdsNeverRepeat() public {
        uint256 a = _mintBy(alice);
        uint256 b = _mintBy(bob);
        vm.assertEq(_list(alice, a, PRICE), 1, "a");
        vm.assertEq(_list(bob, b, PRICE), 2, "b: the counter is global");
        vm.prank(alice);
        market.cancel(a);
        vm.assertEq(_list(alice, a, PRICE), 3, "a again: not 1");
        _buy(carol, a, PRICE);
        vm.prank(carol);
        nft.transferFrom(carol, alice, a);
        vm.assertEq(_list(alice, a, PRICE), 4, "after a sale: not 3");
    }

    function test_list_CommitsToTheTransferCount() public {
        uint256 id = _mintBy(alice);
        vm.prank(alice);
        nft.transferFrom(alice, bob, id);
        vm.prank(bob);
        nft.transferFrom(bob, alice, id);
        uint64 expiresAt = _expiry();
        vm.startPrank(alice);
        nft.approve(address(market), id);
        vm.expectEmit(address(market));
        emit IMemoryMarket.Listed(id, 1, alice, PRICE, expiresAt, 2, 0);
        market.list(id, PRICE, expiresAt);
        vm.stopPrank();
        vm.assertEq(market.listingOf(id).transferCount, 2, "two transfers since the mint");
    }

    function test_list_WithApprovalForAllAndAccountState() public {
        uint256 id = _mintBy(alice);
        MemoryAccount acct = _account(id);
        vm.startPrank(alice);
        acct.execute(bob, 0, "", 0);
        nft.setApprovalForAll(address(market), true);
        market.list(id, PRICE, _expiry());
        vm.stopPrank();
        vm.assertEq(market.listingOf(id).accountState, 1, "commits to the account state");
    }

    function test_list_UpToMaxDuration() public {
        uint256 id = _mintBy(alice);
        uint64 latest = uint64(block.timestamp + market.MAX_LISTING_DURATION());
        vm.startPrank(alice);
        nft.approve(address(market), id);
        market.list(id, PRICE, uint64(block.timestamp + 1));
        vm.assertEq(market.listingOf(id).expiresAt, block.timestamp + 1, "one second");
        market.list(id, PRICE, latest);
        vm.stopPrank();
        vm.assertEq(market.listingOf(id).expiresAt, latest, "the longest allowed");
    }

    function test_RevertWhen_ListExpiryNotInTheFuture() public {
        uint256 id = _mintBy(alice);
        vm.warp(1_000_000);
        uint256 max = block.timestamp + market.MAX_LISTING_DURATION();
        vm.startPrank(alice);
        nft.approve(address(market), id);
        vm.expectRevert(
            abi.encodeWithSelector(IMemoryMarket.InvalidExpiry.selector, block.timestamp, block.timestamp + 1, max)
        );
        market.list(id, PRICE, uint64(block.timestamp));
        vm.expectRevert(
            abi.encodeWithSelector(IMemoryMarket.InvalidExpiry.selector, block.timestamp - 1, block.timestamp + 1, max)
        );
        market.list(id, PRICE, uint64(block.timestamp - 1));
        vm.stopPrank();
    }

    function test_RevertWhen_ListExpiryBeyondMaxDuration() public {
        uint256 id = _mintBy(alice);
        uint256 max = block.timestamp + market.MAX_LISTING_DURATION();
        vm.startPrank(alice);
        nft.approve(address(market), id);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.InvalidExpiry.selector, max + 1, block.timestamp + 1, max));
        market.list(id, PRICE, uint64(max + 1));
        vm.stopPrank();
    }

    function test_RevertWhen_ListZeroPrice() public {
        uint256 id = _mintBy(alice);
        uint64 expiresAt = _expiry();
        vm.prank(alice);
        vm.expectRevert(IMemoryMarket.ZeroPrice.selector);
        market.list(id, 0, expiresAt);
    }

    function test_RevertWhen_ListPriceTooHigh() public {
        uint256 id = _mintBy(alice);
        uint64 expiresAt = _expiry();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.PriceTooHigh.selector, uint256(1) << 96, type(uint96).max));
        market.list(id, uint256(1) << 96, expiresAt);
    }

    function test_RevertWhen_ListByNonOwner() public {
        uint256 id = _mintBy(alice);
        uint64 expiresAt = _expiry();
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.NotTokenOwner.selector, bob, alice));
        market.list(id, PRICE, expiresAt);
    }

    function test_RevertWhen_ListWithoutApproval() public {
        uint256 id = _mintBy(alice);
        uint64 expiresAt = _expiry();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.MarketNotApproved.selector, id));
        market.list(id, PRICE, expiresAt);
    }

    function test_RevertWhen_ListNonexistentToken() public {
        uint64 expiresAt = _expiry();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IERC721Errors.ERC721NonexistentToken.selector, 7));
        market.list(7, PRICE, expiresAt);
    }

    // ------------------------------------------------------------------ isListingLive, listingOf

    function test_isListingLive_FollowsTheListing() public {
        uint256 id = _mintBy(alice);
        vm.assertFalse(market.isListingLive(id), "never listed");
        _list(alice, id, PRICE);
        uint64 expiresAt = market.listingOf(id).expiresAt;
        vm.warp(expiresAt);
        vm.assertTrue(market.isListingLive(id), "live at the expiry instant");
        vm.warp(expiresAt + 1);
        vm.assertFalse(market.isListingLive(id), "expired");
        vm.assertFalse(market.listingOf(id).live, "listingOf agrees");
        vm.assertEq(market.listingOf(id).seller, alice, "an expired listing is still stored");

        _list(alice, id, PRICE);
        vm.assertTrue(market.isListingLive(id), "re-listed");
        vm.prank(alice);
        nft.transferFrom(alice, bob, id);
        vm.assertFalse(market.isListingLive(id), "dead after a transfer");
        vm.assertFalse(market.listingOf(id).live, "listingOf agrees");

        _list(bob, id, PRICE);
        vm.prank(bob);
        market.cancel(id);
        vm.assertFalse(market.isListingLive(id), "cancelled");

        _list(bob, id, PRICE);
        _buy(carol, id, PRICE);
        vm.assertFalse(market.isListingLive(id), "sold");
    }

    function test_listingOf_EmptyWhenNotListed() public {
        uint256 id = _mintBy(alice);
        IMemoryMarket.ListingView memory v = market.listingOf(id);
        vm.assertEq(v.listingId, 0, "id");
        vm.assertEq(v.seller, address(0), "seller");
        vm.assertEq(v.price, 0, "price");
        vm.assertEq(v.expiresAt, 0, "expiry");
        vm.assertFalse(v.live, "live");
        vm.assertFalse(market.isListingLive(999), "unknown token");
    }

    // ------------------------------------------------------------------ cancel

    function test_cancel_BySeller() public {
        uint256 id = _mintBy(alice);
        uint256 listingId = _list(alice, id, PRICE);
        vm.expectEmit(address(market));
        emit IMemoryMarket.ListingCancelled(id, listingId, alice);
        vm.prank(alice);
        market.cancel(id);
        vm.assertEq(market.listingOf(id).seller, address(0), "gone");
        vm.assertEq(market.listingOf(id).listingId, 0, "id cleared");
        vm.assertFalse(nft.accountLocked(id), "account unlocked");
    }

    function test_cancel_ExpiredListing() public {
        uint256 id = _mintBy(alice);
        uint256 listingId = _list(alice, id, PRICE);
        vm.warp(block.timestamp + market.MAX_LISTING_DURATION() + 1);
        vm.expectEmit(address(market));
        emit IMemoryMarket.ListingCancelled(id, listingId, alice);
        vm.prank(alice);
        market.cancel(id);
        vm.assertEq(market.listingOf(id).seller, address(0), "gone");
    }

    function test_cancel_ByNewHolderOfMovedToken() public {
        uint256 id = _mintBy(alice);
        uint256 listingId = _list(alice, id, PRICE);
        vm.prank(alice);
        nft.transferFrom(alice, bob, id);
        vm.expectEmit(address(market));
        emit IMemoryMarket.ListingCancelled(id, listingId, bob); // the holder who cancelled
        vm.prank(bob);
        market.cancel(id);
        vm.assertEq(market.listingOf(id).seller, address(0), "stale listing cleaned");
    }

    /// An EOA seller that delegates its code after listing (EIP-7702, here `vm.etch`) is still its own
    /// root: its listing can be bought.
    function test_buy_FromAnEoaThatGainedCodeAfterListing() public {
        uint256 id = _mintBy(alice);
        _list(alice, id, PRICE);
        vm.etch(alice, hex"00");
        vm.assertTrue(market.listingOf(id).live, "still live");
        _buy(bob, id, PRICE);
        vm.assertEq(nft.ownerOf(id), bob, "bought");
    }

    function test_RevertWhen_CancelByFormerSellerOfMovedToken() public {
        uint256 id = _mintBy(alice);
        _list(alice, id, PRICE);
        vm.prank(alice);
        nft.transferFrom(alice, bob, id);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.NotTokenOwner.selector, alice, bob));
        market.cancel(id);
        vm.assertEq(market.listingOf(id).seller, address(0), "stale: no seller");
        vm.assertFalse(market.isListingLive(id), "and dead");
    }

    function test_RevertWhen_CancelNotListed() public {
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.NotListed.selector, 3));
        market.cancel(3);
    }

    function test_RevertWhen_CancelByStranger() public {
        uint256 id = _mintBy(alice);
        _list(alice, id, PRICE);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.NotTokenOwner.selector, bob, alice));
        market.cancel(id);
    }

    // ------------------------------------------------------------------ buy: payouts

    function test_buy_PaysCreatorAncestorsAndSeller() public {
        uint256 a = _mintBy(carol); // grandparent
        uint256 b = _mintBy(carol, _ids(a)); // parent
        uint256 id = _mintBy(alice, _ids(b)); // alice creates, royalty 5%
        vm.prank(alice);
        nft.transferFrom(alice, bob, id); // bob sells
        _list(bob, id, PRICE);
        address accountA = nft.accountOf(a);
        address accountB = nft.accountOf(b);
        address buyer = address(0xB11);

        vm.expectEmit(address(nft));
        emit IERC721.Transfer(bob, buyer, id);
        vm.expectEmit(address(market));
        emit IMemoryMarket.Sold(id, bob, buyer, PRICE);
        vm.expectEmit(address(market));
        emit IMemoryMarket.RoyaltyPaid(id, id, alice, 0.5 ether, false);
        vm.expectEmit(address(market));
        emit IMemoryMarket.RoyaltyPaid(id, b, accountB, 0.1 ether, false);
        vm.expectEmit(address(market));
        emit IMemoryMarket.RoyaltyPaid(id, a, accountA, 0.05 ether, false);
        _buy(buyer, id, PRICE);

        vm.assertEq(nft.ownerOf(id), buyer, "token moved");
        vm.assertEq(alice.balance, 0.5 ether, "creator 5%");
        vm.assertEq(accountB.balance, 0.1 ether, "parent account 1%");
        vm.assertEq(accountA.balance, 0.05 ether, "grandparent account 0.5%");
        vm.assertEq(bob.balance, PRICE - 0.65 ether, "seller gets the rest");
        vm.assertEq(address(market).balance, 0, "market keeps nothing");
        vm.assertEq(market.listingOf(id).seller, address(0), "listing consumed");
        vm.assertFalse(nft.accountLocked(id), "the buyer's account is not locked");
    }

    /// @dev A primary sale: the creator is the seller and gets its royalty and the rest in one transfer.
    function test_buy_PrimarySalePaysTheCreatorOnce() public {
        uint256 parent = _mintBy(carol);
        uint256 id = _mintBy(alice, _ids(parent)); // alice creates (5%) and sells
        _list(alice, id, PRICE);
        address accountP = nft.accountOf(parent);
        address buyer = address(0xB11);

        vm.expectEmit(address(market));
        emit IMemoryMarket.Sold(id, alice, buyer, PRICE);
        vm.expectEmit(address(market));
        emit IMemoryMarket.RoyaltyPaid(id, id, alice, 0.5 ether, false);
        vm.expectEmit(address(market));
        emit IMemoryMarket.RoyaltyPaid(id, parent, accountP, 0.1 ether, false);
        vm.recordLogs();
        _buy(buyer, id, PRICE);

        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 royaltyEvents;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == IMemoryMarket.RoyaltyPaid.selector) ++royaltyEvents;
        }
        vm.assertEq(royaltyEvents, 2, "one RoyaltyPaid for the creator, one for the parent");
        vm.assertEq(alice.balance, PRICE - 0.1 ether, "creator-seller: royalty + rest");
        vm.assertEq(accountP.balance, 0.1 ether, "parent account 1%");
        vm.assertEq(address(market).balance, 0, "market keeps nothing");
    }

    /// @dev A primary sale whose creator-seller refuses ETH: royalty and rest are credited together.
    function test_buy_PrimarySaleCreditsARefusingCreator() public {
        Actor creator = new Actor(market);
        uint256 id = _mintWith(address(creator), _params(address(creator), _nextChecksum(), new uint256[](0)));
        creator.exec(address(nft), 0, abi.encodeCall(IERC721.approve, (address(market), id)));
        creator.exec(address(market), 0, abi.encodeCall(MemoryMarket.list, (id, PRICE, _expiry())));
        creator.setMode(Actor.Mode.Revert, 0);

        vm.expectEmit(address(market));
        emit IMemoryMarket.Credited(address(creator), PRICE);
        vm.expectEmit(address(market));
        emit IMemoryMarket.RoyaltyPaid(id, id, address(creator), 0.5 ether, true);
        _buy(bob, id, PRICE);
        vm.assertEq(nft.ownerOf(id), bob, "sale went through");
        vm.assertEq(market.owedTo(address(creator)), PRICE, "everything credited once");
        vm.assertEq(market.totalOwed(), PRICE, "ledger total");
        vm.assertEq(address(market).balance, PRICE, "market holds exactly the ledger");
    }

    /// @dev Income paid to a not-yet-created account waits there; the ancestor's holder takes it.
    function test_buy_AncestorAccountCreatedLaterOwnsTheIncome() public {
        uint256 parent = _mintBy(carol);
        uint256 id = _mintBy(alice, _ids(parent));
        _list(alice, id, PRICE);
        _buy(bob, id, PRICE);
        address acct = nft.accountOf(parent);
        vm.assertEq(acct.code.length, 0, "not created");
        vm.assertEq(acct.balance, 0.1 ether, "income waits at the address");

        vm.prank(carol);
        nft.transferFrom(carol, address(0xD0D0), parent); // the income follows the NFT
        registry.createAccount(address(accountImpl), 0, block.chainid, address(nft), parent);
        vm.prank(address(0xD0D0));
        MemoryAccount(payable(acct)).execute(address(0xD0D0), 0.1 ether, "", 0);
        vm.assertEq(address(0xD0D0).balance, 0.1 ether, "new holder withdrew it");
    }

    /// @dev Royalty income does not change an account's state, so it leaves the ancestor's own listing alive.
    function test_buy_RoyaltyIncomeKeepsTheAncestorsListingAlive() public {
        uint256 parent = _mintBy(carol);
        MemoryAccount acct = _account(parent);
        uint256 parentListing = _list(carol, parent, PRICE);
        uint256 id = _mintBy(alice, _ids(parent));
        _list(alice, id, PRICE);
        _buy(bob, id, PRICE);
        vm.assertEq(address(acct).balance, 0.1 ether, "paid into the listed account");
        vm.assertTrue(market.listingOf(parent).live, "the parent's listing is still live");
        vm.assertEq(market.listingOf(parent).listingId, parentListing, "and unchanged");
        _buy(address(0xB11), parent, PRICE);
        vm.assertEq(acct.owner(), address(0xB11), "the parent sold with its income");
        vm.assertEq(address(acct).balance, 0.1 ether, "income went with it");
    }

    function test_buy_ZeroRoyaltyAndDustShares() public {
        uint256 parent = _mintBy(carol);
        uint256 id = _mintWith(alice, _zeroRoyalty(alice, parent));
        _list(alice, id, 99); // 1% of 99 wei rounds to zero: nothing paid, no event
        _buy(bob, id, 99);
        vm.assertEq(alice.balance, 99, "seller gets everything");
    }

    function _zeroRoyalty(address to, uint256 parent) private returns (IMemoryNFT.MintParams memory p) {
        p = _params(to, _nextChecksum(), _ids(parent));
        p.royaltyBps = 0;
    }

    function test_buy_AtTheExpiryInstant() public {
        uint256 id = _mintBy(alice);
        _list(alice, id, PRICE);
        vm.warp(market.listingOf(id).expiresAt);
        _buy(bob, id, PRICE);
        vm.assertEq(nft.ownerOf(id), bob, "valid while block.timestamp <= expiresAt");
    }

    function testFuzz_buy_PayoutsSumToPrice(uint96 price, uint16 royaltyBps, uint8 parentCount) public {
        price = uint96(1 + uint256(price) % 1000 ether);
        uint256 count = uint256(parentCount) % 9;
        uint256[] memory parents = new uint256[](count);
        for (uint256 i; i < count; ++i) {
            parents[i] = _mintBy(carol, i == 0 ? new uint256[](0) : _ids(parents[i - 1]));
        }
        IMemoryNFT.MintParams memory p = _params(alice, _nextChecksum(), parents);
        p.royaltyBps = uint96(royaltyBps % 1001);
        uint256 id = _mintWith(alice, p);
        _list(alice, id, price);

        (uint256[] memory ancestors,) = nft.royaltyTable(id);
        uint256 before = alice.balance;
        uint256 ancestorsBefore;
        for (uint256 i; i < ancestors.length; ++i) {
            ancestorsBefore += nft.accountOf(ancestors[i]).balance;
        }
        _buy(bob, id, price);
        uint256 ancestorsAfter;
        for (uint256 i; i < ancestors.length; ++i) {
            ancestorsAfter += nft.accountOf(ancestors[i]).balance;
        }
        vm.assertEq(
            alice.balance - before + ancestorsAfter - ancestorsBefore, price, "creator+seller+ancestors == price"
        );
        vm.assertEq(address(market).balance, 0, "nothing retained");
    }

    // ------------------------------------------------------------------ buy: reverts

    function test_RevertWhen_BuyNotListed() public {
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.NotListed.selector, 1));
        market.buy(1, 1);
    }

    function test_RevertWhen_BuyListingChanged() public {
        uint256 id = _mintBy(alice);
        uint256 seen = _list(alice, id, PRICE); // what bob read
        uint256 relisted = _list(alice, id, PRICE); // same seller, same price, new listing
        vm.deal(bob, PRICE);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.ListingChanged.selector, id, seen, relisted));
        market.buy{value: PRICE}(id, seen);

        vm.prank(alice);
        market.cancel(id);
        uint256 third = _list(alice, id, PRICE); // cancelled and listed again
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.ListingChanged.selector, id, seen, third));
        market.buy{value: PRICE}(id, seen);
        vm.assertEq(nft.ownerOf(id), alice, "not sold");
    }

    function test_RevertWhen_BuyCancelledListing() public {
        uint256 id = _mintBy(alice);
        uint256 seen = _list(alice, id, PRICE);
        vm.prank(alice);
        market.cancel(id);
        vm.deal(bob, PRICE);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.NotListed.selector, id));
        market.buy{value: PRICE}(id, seen);
    }

    function test_RevertWhen_BuyExpiredListing() public {
        uint256 id = _mintBy(alice);
        uint256 listingId = _list(alice, id, PRICE);
        uint64 expiresAt = market.listingOf(id).expiresAt;
        vm.warp(expiresAt + 1);
        vm.deal(bob, PRICE);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.ListingExpired.selector, id, expiresAt));
        market.buy{value: PRICE}(id, listingId);
    }

    function test_RevertWhen_BuyWrongValue() public {
        uint256 id = _mintBy(alice);
        uint256 listingId = _list(alice, id, PRICE);
        vm.deal(bob, 20 ether);
        vm.startPrank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.WrongValue.selector, PRICE - 1, PRICE));
        market.buy{value: PRICE - 1}(id, listingId);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.WrongValue.selector, PRICE + 1, PRICE));
        market.buy{value: PRICE + 1}(id, listingId);
        vm.stopPrank();
    }

    function test_RevertWhen_BuyerIsSeller() public {
        uint256 id = _mintBy(alice);
        uint256 listingId = _list(alice, id, PRICE);
        vm.deal(alice, PRICE);
        vm.prank(alice);
        vm.expectRevert(IMemoryMarket.BuyerIsSeller.selector);
        market.buy{value: PRICE}(id, listingId);
    }

    function test_RevertWhen_BuyTokenThatMoved() public {
        uint256 id = _mintBy(alice);
        uint256 listingId = _list(alice, id, PRICE);
        vm.prank(alice);
        nft.transferFrom(alice, carol, id);
        vm.deal(bob, PRICE);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.ListingStale.selector, id));
        market.buy{value: PRICE}(id, listingId);
    }

    function test_RevertWhen_BuyTokenThatMovedToAnOperatorOfTheMarket() public {
        // The new holder lets the market move its tokens (to list others): the old listing is still stale.
        uint256 id = _mintBy(alice);
        uint256 listingId = _list(alice, id, PRICE);
        vm.prank(alice);
        nft.transferFrom(alice, carol, id);
        vm.prank(carol);
        nft.setApprovalForAll(address(market), true);
        vm.deal(bob, PRICE);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.ListingStale.selector, id));
        market.buy{value: PRICE}(id, listingId);
        vm.assertEq(nft.ownerOf(id), carol, "carol keeps her token");
    }

    /// @dev The listing committed to the transfer count: a token that left the seller and came back does
    ///      not revive it (before, the same seller and price made it valid again).
    function test_RevertWhen_BuyTokenThatLeftAndCameBack() public {
        uint256 id = _mintBy(alice);
        vm.prank(alice);
        nft.setApprovalForAll(address(market), true);
        vm.prank(alice);
        uint256 listingId = market.list(id, PRICE, _expiry());
        vm.prank(alice);
        nft.transferFrom(alice, carol, id);
        vm.prank(carol);
        nft.transferFrom(carol, alice, id);
        vm.assertFalse(market.listingOf(id).live, "dead");
        vm.deal(bob, PRICE);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.ListingStale.selector, id));
        market.buy{value: PRICE}(id, listingId);
    }

    function test_buy_WithUnchangedNonZeroAccountStateClearsTheListing() public {
        uint256 id = _mintBy(alice);
        MemoryAccount acct = _account(id);
        vm.prank(alice);
        acct.execute(carol, 0, "", 0);
        _list(alice, id, PRICE);
        vm.assertEq(market.listingOf(id).accountState, 1, "committed to state 1");
        _buy(bob, id, PRICE);
        vm.assertEq(nft.ownerOf(id), bob, "sold");
        IMemoryMarket.ListingView memory v = market.listingOf(id);
        vm.assertEq(v.seller, address(0), "listing gone");
        vm.assertEq(v.price, 0, "price cleared");
        vm.assertEq(v.accountState, 0, "committed state cleared");
        vm.assertEq(acct.owner(), bob, "the account follows the token");
    }

    /// @dev While listed the seller cannot empty the account: the buyer gets what the listing showed.
    function test_buy_BuyerGetsTheAccountAsListed() public {
        uint256 id = _mintBy(alice);
        MemoryAccount acct = _account(id);
        vm.deal(address(acct), 5 ether);
        _list(alice, id, PRICE);
        vm.prank(alice);
        vm.expectRevert(IMemoryAccount.AccountLocked.selector);
        acct.execute(alice, 5 ether, "", 0);
        _buy(bob, id, PRICE);
        vm.assertEq(address(acct).balance, 5 ether, "the account kept its ETH");
        vm.prank(bob);
        acct.execute(bob, 5 ether, "", 0);
        vm.assertEq(bob.balance, 5 ether, "the buyer has it");
    }

    /// @dev The market's own account-state check, without the lock: on an NFT that has no market set, the
    ///      account is never locked, and a drained account makes the buy revert.
    function test_RevertWhen_BuyAfterAccountStateChanged() public {
        MemoryNFT bare = new MemoryNFT(address(accountImpl), admin);
        MemoryMarket bareMarket = new MemoryMarket(bare);
        IMemoryNFT.MintParams memory p = _params(alice, _nextChecksum(), new uint256[](0));
        vm.prank(alice);
        bare.commitMint(bare.mintCommitment(p.checksum, alice, p.salt));
        vm.roll(block.number + 1);
        vm.prank(alice);
        uint256 id = bare.mint(p);
        address acct = registry.createAccount(address(accountImpl), 0, block.chainid, address(bare), id);
        vm.deal(acct, 5 ether);
        vm.startPrank(alice);
        bare.approve(address(bareMarket), id);
        uint256 listingId = bareMarket.list(id, PRICE, _expiry());
        MemoryAccount(payable(acct)).execute(alice, 5 ether, "", 0); // not locked: no market set
        vm.stopPrank();
        vm.deal(bob, PRICE);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.AccountStateChanged.selector, id, 0, 1));
        bareMarket.buy{value: PRICE}(id, listingId);
    }

    function test_buy_AfterAccountCreatedButUntouched() public {
        uint256 id = _mintBy(alice);
        _list(alice, id, PRICE);
        _account(id);
        _buy(bob, id, PRICE);
        vm.assertEq(nft.ownerOf(id), bob, "creating the account is not a change of its state");
    }

    function test_RevertWhen_BuyAfterApprovalRevoked() public {
        uint256 id = _mintBy(alice);
        uint256 listingId = _list(alice, id, PRICE);
        vm.prank(alice);
        nft.approve(address(0), id);
        vm.deal(bob, PRICE);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.MarketNotApproved.selector, id));
        market.buy{value: PRICE}(id, listingId);
    }

    function test_RevertWhen_BuyerIsTheTokensOwnAccount() public {
        uint256 id = _mintBy(alice);
        uint256 listingId = _list(alice, id, PRICE);
        address own = nft.accountOf(id);
        vm.deal(own, PRICE);
        vm.prank(own);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.TransferToOwnAccount.selector, id));
        market.buy{value: PRICE}(id, listingId);
    }

    // ------------------------------------------------------------------ token-bound account sellers

    /// @dev `parent`'s account (held by alice) lists `child`, which it holds, for `price`.
    function _accountListing(uint256 price) internal returns (uint256 parent, MemoryAccount acct, uint256 child) {
        parent = _mintBy(alice);
        acct = _account(parent);
        child = _mintBy(alice);
        vm.prank(alice);
        nft.transferFrom(alice, address(acct), child);
        vm.startPrank(alice);
        acct.execute(address(nft), 0, abi.encodeCall(IERC721.approve, (address(market), child)), 0);
        acct.execute(address(market), 0, abi.encodeCall(MemoryMarket.list, (child, price, _expiry())), 0);
        vm.stopPrank();
    }

    function test_buy_FromATokenBoundAccount() public {
        (, MemoryAccount acct, uint256 child) = _accountListing(PRICE);
        vm.assertTrue(market.listingOf(child).live, "live");
        _buy(bob, child, PRICE);
        vm.assertEq(nft.ownerOf(child), bob, "sold");
        vm.assertEq(address(acct).balance, PRICE - 0.5 ether, "the account is the seller; alice created it");
        vm.assertEq(alice.balance, 0.5 ether, "creator royalty");
    }

    function test_RevertWhen_BuyFromAnAccountWhoseOwnerChanged() public {
        (uint256 parent,, uint256 child) = _accountListing(1);
        uint256 listingId = market.listingOf(child).listingId;
        vm.prank(alice);
        nft.transferFrom(alice, bob, parent); // bob now holds the account and expects the child in it
        vm.assertFalse(market.listingOf(child).live, "listingOf sees the owner change");
        vm.deal(alice, 1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.SellerOwnerChanged.selector, child));
        market.buy{value: 1}(child, listingId);
    }

    function test_RevertWhen_BuyFromALockedAccount() public {
        (uint256 parent,, uint256 child) = _accountListing(1);
        uint256 listingId = market.listingOf(child).listingId;
        _list(alice, parent, PRICE); // the parent's buyer is promised the child
        vm.assertFalse(market.listingOf(child).live, "listingOf sees the lock");
        vm.deal(carol, 1);
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.SellerAccountLocked.selector, child));
        market.buy{value: 1}(child, listingId);
    }

    function test_RevertWhen_ListByAnAccountInATooDeepChain() public {
        // child <- account(t[0]) <- account(t[1]) <- ... <- alice: more owners than the market follows.
        uint256 depth = market.MAX_OWNERSHIP_DEPTH();
        uint256 child = _mintBy(alice);
        uint256[] memory t = new uint256[](depth);
        address[] memory accounts = new address[](depth);
        for (uint256 i; i < depth; ++i) {
            t[i] = _mintBy(alice);
            accounts[i] = address(_account(t[i]));
        }
        vm.prank(alice);
        nft.transferFrom(alice, accounts[0], child);
        for (uint256 i = 1; i < depth; ++i) {
            vm.prank(alice);
            nft.transferFrom(alice, accounts[i], t[i - 1]);
        }
        address seller = accounts[0];
        uint64 expiresAt = _expiry();
        vm.startPrank(seller);
        nft.approve(address(market), child);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.OwnershipChainTooDeep.selector, depth));
        market.list(child, PRICE, expiresAt);
        vm.stopPrank();
    }

    /// @dev Contract sellers whose `token()` leads nowhere the market can follow (another chain; a token
    ///      whose `ownerOf` reverts) are their own root: they list and sell like any contract.
    function test_buy_FromAContractBoundElsewhere() public {
        PlainERC721 plain = new PlainERC721();
        BoundElsewhere[2] memory sellers = [new BoundElsewhere(), new BoundElsewhere()];
        sellers[0].bindTo(block.chainid + 1, address(nft), 1);
        sellers[1].bindTo(block.chainid, address(plain), 999);
        for (uint256 i; i < 2; ++i) {
            BoundElsewhere seller = sellers[i];
            uint256 id = _mintBy(alice);
            vm.prank(alice);
            nft.transferFrom(alice, address(seller), id);
            seller.exec(address(nft), abi.encodeCall(IERC721.approve, (address(market), id)));
            seller.exec(address(market), abi.encodeCall(MemoryMarket.list, (id, PRICE, _expiry())));
            vm.assertTrue(market.listingOf(id).live, "live");
            _buy(bob, id, PRICE);
            vm.assertEq(nft.ownerOf(id), bob, "sold");
            vm.assertEq(address(seller).balance, PRICE - 0.5 ether, "seller paid");
        }
    }

    /// @dev A contract seller's listing leaves its owners' root behind; an EOA that lists the token next
    ///      (after the contract gave it away) clears it and sells normally.
    function test_list_ByAnEoaAfterAContractSeller() public {
        BoundElsewhere seller = new BoundElsewhere();
        seller.bindTo(block.chainid + 1, address(nft), 1);
        uint256 id = _mintBy(alice);
        vm.prank(alice);
        nft.transferFrom(alice, address(seller), id);
        seller.exec(address(nft), abi.encodeCall(IERC721.approve, (address(market), id)));
        seller.exec(address(market), abi.encodeCall(MemoryMarket.list, (id, PRICE, _expiry())));
        seller.exec(address(nft), abi.encodeCall(IERC721.transferFrom, (address(seller), carol, id)));
        vm.assertFalse(market.listingOf(id).live, "the contract's listing died with the transfer");
        _list(carol, id, PRICE);
        vm.assertEq(market.listingOf(id).seller, carol, "carol's listing");
        _buy(bob, id, PRICE);
        vm.assertEq(nft.ownerOf(id), bob, "sold");
    }

    // ------------------------------------------------------------------ failing recipients, ledger

    function _actorListing(Actor.Mode mode) internal returns (Actor seller, uint256 id) {
        seller = new Actor(market);
        id = _mintBy(alice);
        vm.prank(alice);
        nft.transferFrom(alice, address(seller), id);
        seller.exec(address(nft), 0, abi.encodeCall(IERC721.approve, (address(market), id)));
        seller.exec(address(market), 0, abi.encodeCall(MemoryMarket.list, (id, PRICE, _expiry())));
        seller.setMode(mode, 0);
    }

    function test_buy_CreditsRevertingSeller() public {
        (Actor seller, uint256 id) = _actorListing(Actor.Mode.Revert);
        uint256 rest = PRICE - 0.5 ether;
        vm.expectEmit(address(market));
        emit IMemoryMarket.Credited(address(seller), rest);
        _buy(bob, id, PRICE);
        vm.assertEq(nft.ownerOf(id), bob, "sale went through");
        vm.assertEq(market.owedTo(address(seller)), rest, "credited");
        vm.assertEq(market.totalOwed(), rest, "ledger total");
        vm.assertEq(address(market).balance, rest, "market holds exactly the ledger");

        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.WithdrawFailed.selector, address(seller), rest));
        seller.exec(address(market), 0, abi.encodeCall(MemoryMarket.withdraw, ()));

        seller.setMode(Actor.Mode.Accept, 0);
        vm.expectEmit(address(market));
        emit IMemoryMarket.Withdrawn(address(seller), address(seller), rest);
        seller.exec(address(market), 0, abi.encodeCall(MemoryMarket.withdraw, ()));
        vm.assertEq(address(seller).balance, rest, "withdrawn");
        vm.assertEq(market.totalOwed(), 0, "ledger settled");
        vm.assertEq(address(market).balance, 0, "market empty");
    }

    function test_withdrawTo_SendsTheCreditElsewhere() public {
        (Actor seller, uint256 id) = _actorListing(Actor.Mode.Revert);
        _buy(bob, id, PRICE);
        uint256 rest = PRICE - 0.5 ether;
        address payable to = payable(address(0x70));
        vm.expectEmit(address(market));
        emit IMemoryMarket.Withdrawn(address(seller), to, rest);
        seller.exec(address(market), 0, abi.encodeCall(MemoryMarket.withdrawTo, (to)));
        vm.assertEq(to.balance, rest, "paid to `to`");
        vm.assertEq(address(seller).balance, 0, "the refusing seller received nothing");
        vm.assertEq(market.owedTo(address(seller)), 0, "credit used up");
        vm.assertEq(market.totalOwed(), 0, "ledger settled");

        vm.expectRevert(IMemoryMarket.NothingToWithdraw.selector);
        seller.exec(address(market), 0, abi.encodeCall(MemoryMarket.withdrawTo, (to)));
    }

    function test_RevertWhen_WithdrawToRefusingAddress() public {
        (Actor seller, uint256 id) = _actorListing(Actor.Mode.Revert);
        _buy(bob, id, PRICE);
        uint256 rest = PRICE - 0.5 ether;
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.WithdrawFailed.selector, address(seller), rest));
        seller.exec(address(market), 0, abi.encodeCall(MemoryMarket.withdrawTo, (payable(address(seller)))));
        vm.assertEq(market.owedTo(address(seller)), rest, "credit kept");
    }

    function test_RevertWhen_WithdrawToZeroAddress() public {
        (Actor seller, uint256 id) = _actorListing(Actor.Mode.Revert);
        _buy(bob, id, PRICE);
        vm.expectRevert(IMemoryMarket.ZeroAddress.selector);
        seller.exec(address(market), 0, abi.encodeCall(MemoryMarket.withdrawTo, (payable(address(0)))));
    }

    function test_buy_CreditsGasBurningCreator() public {
        Actor creator = new Actor(market);
        creator.setMode(Actor.Mode.BurnGas, 0);
        uint256 id = _mintWith(address(creator), _params(alice, _nextChecksum(), new uint256[](0)));
        _list(alice, id, PRICE);
        vm.expectEmit(address(market));
        emit IMemoryMarket.RoyaltyPaid(id, id, address(creator), 0.5 ether, true);
        _buy(bob, id, PRICE);
        vm.assertEq(market.owedTo(address(creator)), 0.5 ether, "royalty credited");
        vm.assertEq(alice.balance, PRICE - 0.5 ether, "seller paid");
    }

    function test_buy_ReentrancyThroughRecipientFails() public {
        (Actor seller, uint256 id) = _actorListing(Actor.Mode.Accept);
        uint256 other = _mintBy(alice);
        _list(alice, other, 1 ether);
        seller.setMode(Actor.Mode.Reenter, other);
        _buy(bob, id, PRICE);
        vm.assertEq(seller.reentryAttempts(), 1, "tried");
        vm.assertEq(
            seller.reentryError(),
            abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector),
            "guarded"
        );
        vm.assertEq(nft.ownerOf(other), alice, "other listing untouched");
        vm.assertEq(address(seller).balance, PRICE - 0.5 ether, "seller still paid");
    }

    function test_RevertWhen_WithdrawNothing() public {
        vm.prank(bob);
        vm.expectRevert(IMemoryMarket.NothingToWithdraw.selector);
        market.withdraw();
    }

    /// @dev ETH forced in (SELFDESTRUCT) is surplus: apart from the ledger, nobody's credit, paid to no one.
    function test_surplus_IsTheEthBeyondTheLedger() public {
        vm.assertEq(market.surplus(), 0, "none");
        (Actor seller, uint256 id) = _actorListing(Actor.Mode.Revert);
        _buy(bob, id, PRICE);
        uint256 rest = PRICE - 0.5 ether;
        vm.assertEq(market.surplus(), 0, "credits are not surplus");
        new ForceSend{value: 1 ether}(payable(address(market)));
        vm.assertEq(market.surplus(), 1 ether, "forced in");
        vm.assertEq(market.totalOwed(), rest, "the ledger did not change");
        vm.assertEq(address(market).balance, rest + 1 ether, "balance = ledger + surplus");

        seller.exec(address(market), 0, abi.encodeCall(MemoryMarket.withdrawTo, (payable(carol))));
        vm.assertEq(carol.balance, rest, "the credit, not more");
        vm.assertEq(market.surplus(), 1 ether, "surplus stays");
        vm.prank(bob);
        vm.expectRevert(IMemoryMarket.NothingToWithdraw.selector);
        market.withdraw();
    }
}
