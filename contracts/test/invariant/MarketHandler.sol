// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryMarket} from "../../src/MemoryMarket.sol";
import {MemoryNFT} from "../../src/MemoryNFT.sol";
import {MemoryAccount} from "../../src/accounts/MemoryAccount.sol";
import {IMemoryMarket} from "../../src/interfaces/IMemoryMarket.sol";
import {IMemoryNFT} from "../../src/interfaces/IMemoryNFT.sol";
import {Actor} from "../utils/Actor.sol";
import {VM, Vm} from "../utils/Vm.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";

/// @notice Drives MemoryNFT, MemoryAccount and MemoryMarket through random valid sequences on behalf of
///         a few contract-wallet actors (which can refuse or burn incoming ETH), keeping ghost totals.
contract MarketHandler {
    Vm internal constant vm = VM;
    uint256 internal constant MAX_TOKENS = 48;

    MemoryNFT public immutable nft;
    MemoryMarket public immutable market;
    Actor[] public actors;
    uint256 public tokenCount;
    uint256[] internal _listed; // ids listed at some point (may be stale)

    // Ghosts.
    uint256 public ghostIn; // ETH paid into the market by buyers
    uint256 public ghostOut; // ETH that reached recipients (sales and withdrawals)
    uint256 public ghostSales;
    uint256 public ghostBadSales; // sales whose payouts + credits != price
    uint256 public ghostWithdrawals;

    constructor(MemoryNFT nft_, MemoryMarket market_, uint256 actors_) {
        nft = nft_;
        market = market_;
        for (uint256 i; i < actors_; ++i) {
            actors.push(new Actor(market_));
        }
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function _actor(uint256 seed) internal view returns (Actor) {
        return actors[seed % actors.length];
    }

    function _token(uint256 seed) internal view returns (uint256) {
        return 1 + seed % tokenCount;
    }

    // ------------------------------------------------------------------ actions

    function mint(uint256 actorSeed, uint256 parentSeed, uint16 royaltyBps, bool createAccount) external {
        if (tokenCount >= MAX_TOKENS) return;
        Actor creator = _actor(actorSeed);
        uint256 count = tokenCount == 0 ? 0 : parentSeed % (tokenCount < 8 ? tokenCount + 1 : 9);
        uint256[] memory parents = new uint256[](count);
        for (uint256 i; i < count; ++i) {
            parents[i] = tokenCount - i; // the newest tokens: distinct and existing
        }
        IMemoryNFT.MintParams memory p;
        p.to = address(creator);
        p.checksum = keccak256(abi.encode("invariant", tokenCount + 1));
        p.sourceModel = "a";
        p.targetModel = "b";
        p.version = "1.0.0";
        p.royaltyBps = royaltyBps % 1001;
        p.parents = parents;
        p.createAccount = createAccount;
        p.salt = keccak256(abi.encode("salt", tokenCount + 1));
        // Commit-reveal: the commitment in one block, the mint in the next.
        creator.exec(
            address(nft),
            0,
            abi.encodeCall(MemoryNFT.commitMint, (nft.mintCommitment(p.checksum, address(creator), p.salt)))
        );
        vm.roll(block.number + 1);
        creator.exec(address(nft), 0, abi.encodeCall(MemoryNFT.mint, (p)));
        ++tokenCount;
    }

    function list(uint256 tokenSeed, uint256 price) external {
        if (tokenCount == 0) return;
        uint256 id = _token(tokenSeed);
        Actor holder = Actor(payable(nft.ownerOf(id)));
        if (!_isActor(address(holder))) return;
        price = 1 + price % 100 ether;
        holder.exec(address(nft), 0, abi.encodeCall(IERC721.approve, (address(market), id)));
        uint64 expiresAt = uint64(block.timestamp + 7 days);
        holder.exec(address(market), 0, abi.encodeCall(MemoryMarket.list, (id, price, expiresAt)));
        _listed.push(id);
    }

    function buy(uint256 listedSeed, uint256 buyerSeed) external {
        if (_listed.length == 0) return;
        uint256 id = _listed[listedSeed % _listed.length];
        IMemoryMarket.ListingView memory l = market.listingOf(id);
        address seller = l.seller;
        uint256 price = l.price;
        if (!l.live || nft.ownerOf(id) != seller) return;
        if (nft.getApproved(id) != address(market)) return;
        address acct = nft.accountOf(id);
        if ((acct.code.length == 0 ? 0 : MemoryAccount(payable(acct)).state()) != l.accountState) return;
        Actor buyer = _actor(buyerSeed);
        if (address(buyer) == seller) return;

        vm.deal(address(buyer), address(buyer).balance + price);
        uint256 before = _participantBalances();
        uint256 owedBefore = market.totalOwed();
        buyer.exec{value: 0}(address(market), price, abi.encodeCall(MemoryMarket.buy, (id, l.listingId)));
        // Everyone but the buyer received; the buyer's own royalty (if creator) is a receipt too.
        uint256 received = _participantBalances() + price - before;
        uint256 credited = market.totalOwed() - owedBefore;
        ghostIn += price;
        ghostOut += received;
        ++ghostSales;
        if (received + credited != price) ++ghostBadSales;
    }

    function cancel(uint256 tokenSeed) external {
        if (tokenCount == 0) return;
        uint256 id = _token(tokenSeed);
        address seller = market.listingOf(id).seller;
        if (seller == address(0) || !_isActor(seller)) return;
        Actor(payable(seller)).exec(address(market), 0, abi.encodeCall(MemoryMarket.cancel, (id)));
    }

    function transfer(uint256 tokenSeed, uint256 toSeed) external {
        if (tokenCount == 0) return;
        uint256 id = _token(tokenSeed);
        Actor holder = Actor(payable(nft.ownerOf(id)));
        if (!_isActor(address(holder))) return;
        holder.exec(
            address(nft), 0, abi.encodeCall(IERC721.transferFrom, (address(holder), address(_actor(toSeed)), id))
        );
    }

    /// @dev The holder moves ETH out of the token's account (changes its state). Not while the token has a
    ///      live listing: the account is locked then (`execute` reverts AccountLocked).
    function drainAccount(uint256 tokenSeed) external {
        if (tokenCount == 0) return;
        uint256 id = _token(tokenSeed);
        address acct = nft.accountOf(id);
        if (acct.code.length == 0 || nft.accountLocked(id)) return;
        Actor holder = Actor(payable(nft.ownerOf(id)));
        if (!_isActor(address(holder)) || holder.mode() != Actor.Mode.Accept) return;
        holder.exec(acct, 0, abi.encodeCall(MemoryAccount.execute, (address(holder), acct.balance, "", uint8(0))));
    }

    function setMode(uint256 actorSeed, uint8 mode) external {
        _actor(actorSeed).setMode(Actor.Mode(mode % 3), 0); // Accept, Revert, BurnGas
    }

    function withdraw(uint256 actorSeed) external {
        Actor a = _actor(actorSeed);
        uint256 owed = market.owedTo(address(a));
        if (owed == 0 || a.mode() != Actor.Mode.Accept) return;
        uint256 before = address(a).balance;
        a.exec(address(market), 0, abi.encodeCall(MemoryMarket.withdraw, ()));
        ghostOut += address(a).balance - before;
        ++ghostWithdrawals;
    }

    // ------------------------------------------------------------------ helpers

    function _isActor(address who) internal view returns (bool) {
        for (uint256 i; i < actors.length; ++i) {
            if (address(actors[i]) == who) return true;
        }
        return false;
    }

    /// @dev Balances of everyone a sale can pay: the actors and every token's account address.
    function _participantBalances() internal view returns (uint256 sum) {
        for (uint256 i; i < actors.length; ++i) {
            sum += address(actors[i]).balance;
        }
        for (uint256 id = 1; id <= tokenCount; ++id) {
            sum += nft.accountOf(id).balance;
        }
    }
}
