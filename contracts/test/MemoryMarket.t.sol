// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryMarket} from "../src/MemoryMarket.sol";
import {MemoryAccount} from "../src/accounts/MemoryAccount.sol";
import {IMemoryMarket} from "../src/interfaces/IMemoryMarket.sol";
import {IMemoryNFT} from "../src/interfaces/IMemoryNFT.sol";
import {Actor} from "./utils/Actor.sol";
import {BaseTest} from "./utils/BaseTest.sol";
import {Vm} from "./utils/Vm.sol";
import {IERC721Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

contract MemoryMarketTest is BaseTest {
    uint256 internal constant PRICE = 10 ether;

    // ------------------------------------------------------------------ constructor

    function test_constructor_ReadsTheNft() public view {
        vm.assertEq(address(market.nft()), address(nft), "nft");
        vm.assertEq(market.accountImplementation(), address(accountImpl), "impl");
        vm.assertEq(market.totalOwed(), 0, "empty ledger");
    }

    // ------------------------------------------------------------------ list

    function test_list_RecordsAndEmits() public {
        uint256 id = _mintBy(alice);
        vm.startPrank(alice);
        nft.approve(address(market), id);
        vm.expectEmit(address(market));
        emit IMemoryMarket.Listed(id, alice, PRICE, 0);
        market.list(id, PRICE);
        (address seller, uint256 price, uint256 state) = market.listingOf(id);
        vm.assertEq(seller, alice, "seller");
        vm.assertEq(price, PRICE, "price");
        vm.assertEq(state, 0, "no account yet");
        market.list(id, 2 ether);
        (, price,) = market.listingOf(id);
        vm.assertEq(price, 2 ether, "re-list replaces");
        vm.stopPrank();
    }

    function test_list_WithApprovalForAllAndAccountState() public {
        uint256 id = _mintBy(alice);
        MemoryAccount acct =
            MemoryAccount(payable(registry.createAccount(address(accountImpl), 0, block.chainid, address(nft), id)));
        vm.startPrank(alice);
        acct.execute(bob, 0, "", 0);
        nft.setApprovalForAll(address(market), true);
        market.list(id, PRICE);
        vm.stopPrank();
        (,, uint256 state) = market.listingOf(id);
        vm.assertEq(state, 1, "commits to the account state");
    }

    function test_RevertWhen_ListZeroPrice() public {
        uint256 id = _mintBy(alice);
        vm.prank(alice);
        vm.expectRevert(IMemoryMarket.ZeroPrice.selector);
        market.list(id, 0);
    }

    function test_RevertWhen_ListPriceTooHigh() public {
        uint256 id = _mintBy(alice);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.PriceTooHigh.selector, uint256(1) << 96, type(uint96).max));
        market.list(id, uint256(1) << 96);
    }

    function test_RevertWhen_ListByNonOwner() public {
        uint256 id = _mintBy(alice);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.NotTokenOwner.selector, bob, alice));
        market.list(id, PRICE);
    }

    function test_RevertWhen_ListWithoutApproval() public {
        uint256 id = _mintBy(alice);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.MarketNotApproved.selector, id));
        market.list(id, PRICE);
    }

    function test_RevertWhen_ListNonexistentToken() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IERC721Errors.ERC721NonexistentToken.selector, 7));
        market.list(7, PRICE);
    }

    // ------------------------------------------------------------------ cancel

    function test_cancel_BySeller() public {
        uint256 id = _mintBy(alice);
        _list(alice, id, PRICE);
        vm.expectEmit(address(market));
        emit IMemoryMarket.ListingCancelled(id, alice);
        vm.prank(alice);
        market.cancel(id);
        (address seller,,) = market.listingOf(id);
        vm.assertEq(seller, address(0), "gone");
    }

    function test_cancel_ByNewHolderOfMovedToken() public {
        uint256 id = _mintBy(alice);
        _list(alice, id, PRICE);
        vm.prank(alice);
        nft.transferFrom(alice, bob, id);
        vm.prank(bob);
        market.cancel(id);
        (address seller,,) = market.listingOf(id);
        vm.assertEq(seller, address(0), "stale listing cleaned");
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
        (address seller,,) = market.listingOf(id);
        vm.assertEq(seller, address(0), "listing consumed");
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
        vm.prank(address(creator));
        uint256 id = nft.mint(_params(address(creator), _nextChecksum(), new uint256[](0)));
        creator.exec(address(nft), 0, abi.encodeCall(IERC721.approve, (address(market), id)));
        creator.exec(address(market), 0, abi.encodeCall(MemoryMarket.list, (id, PRICE)));
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

    function test_buy_ZeroRoyaltyAndDustShares() public {
        uint256 parent = _mintBy(carol);
        vm.prank(alice);
        uint256 id = nft.mint(_zeroRoyalty(alice, parent));
        _list(alice, id, 99); // 1% of 99 wei rounds to zero: nothing paid, no event
        _buy(bob, id, 99);
        vm.assertEq(alice.balance, 99, "seller gets everything");
    }

    function _zeroRoyalty(address to, uint256 parent) private returns (IMemoryNFT.MintParams memory p) {
        p = _params(to, _nextChecksum(), _ids(parent));
        p.royaltyBps = 0;
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
        vm.prank(alice);
        uint256 id = nft.mint(p);
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
        market.buy(1);
    }

    function test_RevertWhen_BuyWrongValue() public {
        uint256 id = _mintBy(alice);
        _list(alice, id, PRICE);
        vm.deal(bob, 20 ether);
        vm.startPrank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.WrongValue.selector, PRICE - 1, PRICE));
        market.buy{value: PRICE - 1}(id);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.WrongValue.selector, PRICE + 1, PRICE));
        market.buy{value: PRICE + 1}(id);
        vm.stopPrank();
    }

    function test_RevertWhen_BuyerIsSeller() public {
        uint256 id = _mintBy(alice);
        _list(alice, id, PRICE);
        vm.deal(alice, PRICE);
        vm.prank(alice);
        vm.expectRevert(IMemoryMarket.BuyerIsSeller.selector);
        market.buy{value: PRICE}(id);
    }

    function test_RevertWhen_BuyTokenThatMoved() public {
        uint256 id = _mintBy(alice);
        _list(alice, id, PRICE);
        vm.prank(alice);
        nft.transferFrom(alice, carol, id);
        vm.deal(bob, PRICE);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.ListingStale.selector, id));
        market.buy{value: PRICE}(id);
    }

    function test_RevertWhen_BuyTokenThatMovedToAnOperatorOfTheMarket() public {
        // The new holder lets the market move its tokens (to list others): the old listing is still stale.
        uint256 id = _mintBy(alice);
        _list(alice, id, PRICE);
        vm.prank(alice);
        nft.transferFrom(alice, carol, id);
        vm.prank(carol);
        nft.setApprovalForAll(address(market), true);
        vm.deal(bob, PRICE);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.ListingStale.selector, id));
        market.buy{value: PRICE}(id);
        vm.assertEq(nft.ownerOf(id), carol, "carol keeps her token");
    }

    function test_buy_WithUnchangedNonZeroAccountStateClearsTheListing() public {
        uint256 id = _mintBy(alice);
        MemoryAccount acct =
            MemoryAccount(payable(registry.createAccount(address(accountImpl), 0, block.chainid, address(nft), id)));
        vm.prank(alice);
        acct.execute(carol, 0, "", 0);
        _list(alice, id, PRICE);
        (,, uint256 listed) = market.listingOf(id);
        vm.assertEq(listed, 1, "committed to state 1");
        _buy(bob, id, PRICE);
        vm.assertEq(nft.ownerOf(id), bob, "sold");
        (address seller, uint256 price, uint256 state) = market.listingOf(id);
        vm.assertEq(seller, address(0), "listing gone");
        vm.assertEq(price, 0, "price cleared");
        vm.assertEq(state, 0, "committed state cleared");
        vm.assertEq(acct.owner(), bob, "the account follows the token");
    }

    function test_RevertWhen_BuyAfterSellerEmptiedAccount() public {
        uint256 id = _mintBy(alice);
        address acct = registry.createAccount(address(accountImpl), 0, block.chainid, address(nft), id);
        vm.deal(acct, 5 ether);
        _list(alice, id, PRICE);
        vm.prank(alice);
        MemoryAccount(payable(acct)).execute(alice, 5 ether, "", 0);
        vm.deal(bob, PRICE);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.AccountStateChanged.selector, id, 0, 1));
        market.buy{value: PRICE}(id);
    }

    function test_buy_AfterAccountCreatedButUntouched() public {
        uint256 id = _mintBy(alice);
        _list(alice, id, PRICE);
        registry.createAccount(address(accountImpl), 0, block.chainid, address(nft), id);
        _buy(bob, id, PRICE);
        vm.assertEq(nft.ownerOf(id), bob, "creating the account is not a change of its state");
    }

    function test_RevertWhen_BuyAfterApprovalRevoked() public {
        uint256 id = _mintBy(alice);
        _list(alice, id, PRICE);
        vm.prank(alice);
        nft.approve(address(0), id);
        vm.deal(bob, PRICE);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryMarket.MarketNotApproved.selector, id));
        market.buy{value: PRICE}(id);
    }

    function test_RevertWhen_BuyerIsTheTokensOwnAccount() public {
        uint256 id = _mintBy(alice);
        _list(alice, id, PRICE);
        address own = nft.accountOf(id);
        vm.deal(own, PRICE);
        vm.prank(own);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.TransferToOwnAccount.selector, id));
        market.buy{value: PRICE}(id);
    }

    // ------------------------------------------------------------------ failing recipients, ledger

    function _actorListing(Actor.Mode mode) internal returns (Actor seller, uint256 id) {
        seller = new Actor(market);
        id = _mintBy(alice);
        vm.prank(alice);
        nft.transferFrom(alice, address(seller), id);
        seller.exec(address(nft), 0, abi.encodeCall(IERC721.approve, (address(market), id)));
        seller.exec(address(market), 0, abi.encodeCall(MemoryMarket.list, (id, PRICE)));
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
        emit IMemoryMarket.Withdrawn(address(seller), rest);
        seller.exec(address(market), 0, abi.encodeCall(MemoryMarket.withdraw, ()));
        vm.assertEq(address(seller).balance, rest, "withdrawn");
        vm.assertEq(market.totalOwed(), 0, "ledger settled");
        vm.assertEq(address(market).balance, 0, "market empty");
    }

    function test_buy_CreditsGasBurningCreator() public {
        Actor creator = new Actor(market);
        creator.setMode(Actor.Mode.BurnGas, 0);
        vm.prank(address(creator));
        uint256 id = nft.mint(_params(alice, _nextChecksum(), new uint256[](0)));
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
}
