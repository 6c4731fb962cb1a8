// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryMarket} from "../../src/MemoryMarket.sol";
import {MemoryNFT} from "../../src/MemoryNFT.sol";
import {MemoryAccount} from "../../src/accounts/MemoryAccount.sol";
import {IERC6551Registry} from "../../src/interfaces/IERC6551.sol";
import {IMemoryMarket} from "../../src/interfaces/IMemoryMarket.sol";
import {IMemoryNFT} from "../../src/interfaces/IMemoryNFT.sol";
import {AccountSig} from "../utils/AccountSig.sol";
import {ForceSend, PermitERC20} from "../utils/TestTokens.sol";
import {VM, Vm} from "../utils/Vm.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {LibERC6551} from "solady/accounts/LibERC6551.sol";

/// @notice What a buyer saw when it read a listing and what it held after the buy, summed over the
///         token's account and every account nested under it at the read (the "tree").
struct BuyRecord {
    uint256 tokenId;
    uint256 listingId;
    uint256 price;
    address buyer;
    bool ok;
    /// First four bytes of the revert data of a failed buy.
    bytes4 error;
    /// Whether the buyer read the contents (a pending or immediate order), so `seen*`/`got*` are set.
    bool observed;
    bool delivered;
    uint256 seenEth;
    uint256 inflowEth;
    uint256 gotEth;
    uint256 seenErc20;
    uint256 inflowErc20;
    /// ERC-20 pulled out of the tree through approvals granted while the accounts were unlocked.
    uint256 residualErc20;
    uint256 gotErc20;
    /// Tokens nested in the tree at the read.
    uint256 seenNfts;
    uint256 keptNfts;
    /// Seen tokens that left through an approval granted before the listing (with what they held).
    uint256 residualNfts;
    /// Items (a token's place, an account's ETH or ERC-20 balance) that differ for any other reason.
    uint256 mismatches;
}

/// @notice How one sale's price was split, by the rule and as measured.
struct SaleRecord {
    uint256 tokenId;
    uint256 listingId;
    uint256 price;
    /// The rule's creator royalty plus ancestor shares.
    uint256 royalties;
    /// The rule's rest for the seller.
    uint256 proceeds;
    /// ETH that reached or was credited to anyone (the buyer's own receipts included).
    uint256 received;
    /// Recipients whose receipt differs from their share by the rule.
    uint256 mismatches;
}

/// @notice A contract actor (creator, holder, seller) that can refuse ETH, so that payouts to it are credited.
contract HostileWallet {
    bool public refusing;

    function setRefusing(bool refusing_) external {
        refusing = refusing_;
    }

    function exec(address to, uint256 value, bytes calldata data) external payable returns (bytes memory ret) {
        bool ok;
        (ok, ret) = to.call{value: value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }

    receive() external payable {
        if (refusing) revert("refused");
    }

    function onERC721Received(address, address, uint256, bytes calldata) external pure returns (bytes4) {
        return this.onERC721Received.selector;
    }
}

/// @notice Hostile actors for MemoryNFT, MemoryAccount and MemoryMarket: four EOAs (with keys, so they sign
///         ERC-1271 permits for their accounts), a contract wallet that can refuse ETH, and the token-bound
///         accounts, which hold nested tokens, list them and act through `execute` chains. Actions are both
///         honest (mint, list, buy) and hostile (drain and re-list in front of a pending buy, round trips,
///         drains by `execute` and by permit while listed, pulls through approvals granted before listing,
///         ownership cycles, stale listing ids, forced ETH). No action reverts on its own: every call into
///         the system is made with a low-level call and its outcome recorded.
/// @dev Every state-changing call goes through `_do` (or `_attemptBuy`), which snapshots the ETH and ERC-20
///      balances of every token's account before and after: increases are inflows, decreases in a pull
///      through a pre-listing approval are the modelled residual, any other decrease is an outflow that a
///      buyer's window must not contain. Pending orders snapshot the whole world at the read.
contract HostileHandler {
    Vm internal constant vm = VM;
    IERC6551Registry internal constant registry = IERC6551Registry(LibERC6551.REGISTRY);
    address internal constant CONSOLE = 0x000000000000000000636F6e736F6c652e6c6f67;

    uint256 public constant EOAS = 4;
    uint256 public constant MAX_TOKENS = 10;

    MemoryNFT public immutable nft;
    MemoryMarket public immutable market;
    PermitERC20 public immutable erc20;
    HostileWallet public immutable wallet;

    address[EOAS] internal _eoas;
    uint256[EOAS] internal _keys;

    uint256 public tokenCount;
    /// @dev Every token's account address (created or not) and back.
    mapping(uint256 tokenId => address) internal _accounts;
    mapping(address account => uint256 tokenId) internal _tokenOfAccount;

    // ------------------------------------------------------------------ ghost model of listings

    struct ListingGhost {
        uint256 tokenId;
        address seller;
        /// For an account seller: the first non-account owner above it at listing.
        address sellerRoot;
        uint256 price;
        uint64 expiresAt;
        uint256 transferCount;
        /// Cancelled, replaced by a re-list or bought.
        bool ended;
    }

    mapping(uint256 listingId => ListingGhost) internal _listing;
    mapping(uint256 tokenId => uint256 listingId) public latestListing;
    mapping(uint256 tokenId => uint256[]) internal _history;
    mapping(uint256 listingId => bool) internal _bought;
    uint256 public lastListingId;

    // ------------------------------------------------------------------ ghost flows per token account

    mapping(uint256 tokenId => uint256) public inflowEth;
    mapping(uint256 tokenId => uint256) public inflowErc20;
    mapping(uint256 tokenId => uint256) public residualErc20;
    /// @dev How often the token left its holder account through an approval granted before listing.
    mapping(uint256 tokenId => uint256) public residualNft;

    /// @dev Approvals an account granted while unlocked (before any listing above it): the residual risk.
    mapping(address account => mapping(address spender => uint256)) internal _preListingAllowance;
    mapping(address account => mapping(address spender => bool)) internal _preListingOperator;
    mapping(uint256 tokenId => address) internal _preListingApprovee;
    mapping(uint256 tokenId => address) internal _preListingApprover;

    // ------------------------------------------------------------------ orders (what buyers read)

    struct Order {
        uint256 tokenId;
        uint256 listingId;
        uint256 price;
        /// Tokens that existed at the read.
        uint256 tokens;
        bool open;
    }

    struct Snap {
        address owner;
        bool inTree;
        uint256 eth;
        uint256 erc20;
        uint256 inflowEth;
        uint256 inflowErc20;
        uint256 residualErc20;
        uint256 residualNft;
    }

    /// @dev Slots 0..EOAS-1: pending orders (read now, bought later); EOAS..2*EOAS-1: immediate ones. The
    ///      buyer of slot `s` is `_eoas[s % EOAS]`.
    mapping(uint256 slot => Order) internal _orders;
    mapping(uint256 slot => mapping(uint256 tokenId => Snap)) internal _snaps;

    BuyRecord[] internal _buys;
    SaleRecord[] internal _sales;

    // ------------------------------------------------------------------ violations (must stay zero)

    /// An `execute`, a listing, an approval or a permit of an account succeeded while a token on its chain
    /// of owners had a live listing.
    uint256 public ghostLockedActions;
    /// A buy succeeded for a listing that was cancelled, replaced, bought, expired, or whose token moved.
    uint256 public ghostDeadListingSales;
    /// A buy succeeded for a listing of an account seller whose owners changed or that was locked.
    uint256 public ghostAccountSellerSales;
    /// `list` returned an id that was not new, or the market's view disagrees with it.
    uint256 public ghostListingIdReuse;
    /// A cancel by someone other than the token's holder succeeded.
    uint256 public ghostStrangerCancels;
    /// Assets left an account through an approval that was not granted before a listing.
    uint256 public ghostUnexplainedPulls;
    /// ETH forced into the market by SELFDESTRUCT.
    uint256 public ghostForced;
    /// Tokens moved into an uncreated account nested under themselves: the documented residual cycle.
    mapping(uint256 tokenId => bool) public closedCycleUnseen;

    // ------------------------------------------------------------------ activity counters

    uint256 public nMints;
    uint256 public nLists;
    uint256 public nCancels;
    uint256 public nTransfers;
    uint256 public nNests;
    uint256 public nCyclesRefused;
    uint256 public nResidualCycles;
    uint256 public nRoundTrips;
    uint256 public nDrains;
    uint256 public nGrants;
    uint256 public nPermits;
    uint256 public nResidualPulls;
    uint256 public nGifts;
    uint256 public nBlocked; // actions of locked accounts that were refused
    uint256 public nReads;
    uint256 public nFrontRuns;
    uint256 public nBuys;
    uint256 public nBuysFailed;
    uint256 public nStaleRefused;
    uint256 public nWithdrawals;
    /// Handler actions called (the campaign's depth so far).
    uint256 public nCalls;
    /// Successful buys whose buyer read the contents first, and those of them that saw a non-empty tree.
    uint256 public nObservedBuys;
    uint256 public nNonEmptyBuys;
    /// Successful observed buys in whose window assets left through a pre-listing approval.
    uint256 public nResidualBuys;

    /// @dev Counts handler actions (not the fixture), so that `afterInvariant` can tell a full run.
    modifier action() {
        ++nCalls;
        _;
    }

    constructor(MemoryNFT nft_, MemoryMarket market_) {
        nft = nft_;
        market = market_;
        erc20 = new PermitERC20();
        wallet = new HostileWallet();
        for (uint256 i; i < EOAS; ++i) {
            _keys[i] = 0xE0A0 + i;
            _eoas[i] = vm.addr(_keys[i]);
        }
    }

    // ================================================================== fixture

    /// @dev A starting world so that the first calls have something to attack: tokens 1..5, two nested in
    ///      token 1's account (one of them with an uncreated account), assets in the accounts and an ERC-20
    ///      approval granted by token 1's account before any listing.
    function setUpFixture() external {
        _mintAs(_eoas[0], _eoas[0], new uint256[](0), 500, true); // 1
        _mintAs(address(wallet), _eoas[1], _ids(1), 1000, true); // 2: creator is the wallet
        _mintAs(_eoas[2], _accounts[1], _ids(1), 300, false); // 3: nested in 1, account not created
        _mintAs(_eoas[0], _accounts[1], _ids(2), 0, true); // 4: nested in 1
        _mintAs(_eoas[3], _eoas[3], _ids(2, 4), 200, false); // 5
        _do(_eoas[3], _accounts[1], 2 ether, "");
        _do(_eoas[3], _accounts[4], 1 ether, "");
        _do(_eoas[3], address(erc20), 0, abi.encodeCall(PermitERC20.mint, (_accounts[1], 1000)));
        _do(_eoas[3], address(erc20), 0, abi.encodeCall(PermitERC20.mint, (_accounts[4], 500)));
        _grant(_accounts[1], _eoas[2], 0, 400, 0);
    }

    // ================================================================== actions: tokens and accounts

    /// @notice Commit-reveal mint by an EOA or the wallet, to its creator or into a token's account.
    function mint(uint256 creatorSeed, uint256 toSeed, uint256 parentSeed, uint16 royaltyBps, bool withAccount)
        external
        action
    {
        if (tokenCount >= MAX_TOKENS) return;
        address creator = creatorSeed % 5 == EOAS ? address(wallet) : _eoas[creatorSeed % EOAS];
        address to = toSeed % 3 == 0 ? _accounts[_token(toSeed / 3)] : creator;
        uint256 count = parentSeed % 4;
        uint256[] memory parents = new uint256[](count < tokenCount ? count : tokenCount);
        for (uint256 i; i < parents.length; ++i) {
            parents[i] = tokenCount - i; // the newest: distinct and existing
        }
        _mintAs(creator, to, parents, royaltyBps % 1001, withAccount);
    }

    /// @notice Anyone creates a token's account through the canonical registry.
    function createAccount(uint256 tokenSeed) external action {
        _create(_token(tokenSeed));
    }

    /// @notice Someone sends ETH and mints ERC-20 into a token's account.
    function gift(uint256 tokenSeed, uint256 fromSeed, uint96 eth, uint96 amount) external action {
        address to = _accounts[_token(tokenSeed)];
        address from = _eoas[fromSeed % EOAS];
        (bool a,) = _do(from, to, uint256(eth) % 3 ether, "");
        (bool b,) = _do(from, address(erc20), 0, abi.encodeCall(PermitERC20.mint, (to, uint256(amount) % 1000)));
        if (a && b) ++nGifts;
    }

    /// @notice The holder moves the token to an EOA, the wallet or any token's account (created or not,
    ///         including accounts nested under the token itself: a cycle attempt), by `transferFrom` or
    ///         `safeTransferFrom`, itself or through an operator it approved.
    function transfer(uint256 tokenSeed, uint256 toSeed, uint8 mode) external action {
        uint256 id = _token(tokenSeed);
        address holder = nft.ownerOf(id);
        address to = _participant(toSeed % _participants());
        if (to == holder) return;
        _transfer(id, holder, to, mode);
    }

    /// @notice The holder makes an EOA its operator (setApprovalForAll) or approves it for the token.
    function approveOperator(uint256 tokenSeed, uint256 operatorSeed, bool forAll) external action {
        uint256 id = _token(tokenSeed);
        address holder = nft.ownerOf(id);
        address operator = _eoas[operatorSeed % EOAS];
        if (operator == holder) return;
        if (_tokenOfAccount[holder] != 0) {
            _grant(holder, operator, forAll ? 2 : 1, 0, id - 1); // an account's approval: pre-listing or refused
            return;
        }
        _do(
            holder,
            address(nft),
            0,
            forAll
                ? abi.encodeCall(IERC721.setApprovalForAll, (operator, true))
                : abi.encodeCall(IERC721.approve, (operator, id))
        );
    }

    /// @notice Seller -> X -> seller, then someone tries the listing made before the round trip.
    function roundTrip(uint256 tokenSeed, uint256 viaSeed, uint256 buyerSeed) external action {
        _roundTrip(_token(tokenSeed), viaSeed, buyerSeed);
    }

    // ================================================================== actions: market

    /// @notice The holder approves the market (token or operator approval) if needed and lists.
    function list(uint256 tokenSeed, uint256 priceSeed, uint256 durationSeed, bool forAll) external action {
        uint256 id = _token(tokenSeed);
        _approveAndList(id, 1 + priceSeed % 5 ether, uint64(block.timestamp + 1 hours + durationSeed % 3 days), forAll);
    }

    /// @notice The seller (who may no longer hold the token), the holder or a stranger cancels the listing.
    function cancel(uint256 tokenSeed, uint256 whoSeed) external action {
        uint256 id = _token(tokenSeed);
        uint256 listingId = latestListing[id];
        if (listingId == 0 || _listing[listingId].ended) return;
        address seller = _listing[listingId].seller;
        address holder = nft.ownerOf(id);
        uint256 w = whoSeed % 3;
        address who = w == 0 ? seller : w == 1 ? holder : _eoas[whoSeed % EOAS];
        (bool ok,) = _do(who, address(market), 0, abi.encodeCall(MemoryMarket.cancel, (id)));
        if (!ok) return;
        if (who != holder) ++ghostStrangerCancels;
        _listing[listingId].ended = true;
        ++nCancels;
    }

    /// @notice The holder revokes the market's approval (token or operator) while listed.
    function revokeMarket(uint256 tokenSeed, bool forAll) external action {
        uint256 id = _token(tokenSeed);
        address holder = nft.ownerOf(id);
        _do(
            holder,
            address(nft),
            0,
            forAll
                ? abi.encodeCall(IERC721.setApprovalForAll, (address(market), false))
                : abi.encodeCall(IERC721.approve, (address(0), id))
        );
    }

    /// @notice A buyer reads a live listing (id, price, and what the account tree holds) and keeps the
    ///         order pending: anything may happen before `buyPending` or `frontRun` sends it.
    function readListing(uint256 buyerSeed, uint256 tokenSeed, uint256 priceSeed) external action {
        _open(buyerSeed % EOAS, tokenSeed, priceSeed);
    }

    /// @notice The buyer sends its pending order as read.
    function buyPending(uint256 buyerSeed) external action {
        uint256 b = buyerSeed % EOAS;
        if (_orders[b].open) _executeOrder(b);
    }

    /// @notice The seller side attacks a pending order, then the order lands.
    ///         0: cancel, drain the account (ETH, ERC-20, a nested token) and re-list at the same price;
    ///         1: seller -> X -> seller; 2: drain by `execute` while listed; 3: pull through pre-listing
    ///         approvals; 4: permit by the holder's signature while listed, then pull; 5: revoke the market's
    ///         approval; 6: buy a token nested in the account out of its account's listing; 7: re-list at
    ///         the same price without draining; 8: move the token into another account.
    function frontRun(uint256 buyerSeed, uint256 kind, uint256 seed) external action {
        uint256 b = buyerSeed % EOAS;
        Order storage o = _orders[b];
        kind %= 9;
        if (!o.open) {
            // The approval attack needs its approvals before the listing: a seller that plans it lists afresh.
            bool opened = kind == 3 ? _openWithAccomplice(b, seed) : _open(b, seed, seed >> 128);
            if (!opened) return;
        }
        uint256 id = o.tokenId;
        address holder = nft.ownerOf(id);
        address acct = _accounts[id];
        if (kind == 0) {
            _do(holder, address(market), 0, abi.encodeCall(MemoryMarket.cancel, (id)));
            _cancelled(id);
            _drainAll(acct);
            _list(holder, id, o.price, _listing[o.listingId].expiresAt);
        } else if (kind == 1) {
            _roundTrip(id, seed, b + 1);
        } else if (kind == 2) {
            _drainAll(acct);
        } else if (kind == 3) {
            for (uint256 j = 1; j <= tokenCount; ++j) {
                if (_snaps[b][j].inTree) _pullAll(_accounts[j]);
            }
        } else if (kind == 4) {
            address spender = _eoas[seed % EOAS];
            _permit(id, spender, erc20.balanceOf(acct));
            _pull(acct, spender, 0, 0);
        } else if (kind == 5) {
            _do(holder, address(nft), 0, abi.encodeCall(IERC721.approve, (address(0), id)));
            _do(holder, address(nft), 0, abi.encodeCall(IERC721.setApprovalForAll, (address(market), false)));
        } else if (kind == 6) {
            for (uint256 j = 1; j <= tokenCount; ++j) {
                if (j != id && _snaps[b][j].inTree && latestListing[j] != 0) {
                    _attemptBuy(b + EOAS, j, latestListing[j], _listing[latestListing[j]].price, false);
                }
            }
        } else if (kind == 7) {
            _list(holder, id, o.price, _listing[o.listingId].expiresAt);
        } else {
            _transfer(id, holder, _accounts[_token(seed)], uint8(seed));
        }
        ++nFrontRuns;
        _executeOrder(b);
    }

    /// @notice A buyer reads a live listing and buys it at once (listing one first if none is live).
    function buyNow(uint256 buyerSeed, uint256 tokenSeed, uint256 priceSeed) external action {
        uint256 b = buyerSeed % EOAS;
        if (_open(b + EOAS, tokenSeed, priceSeed)) _executeOrder(b + EOAS);
    }

    /// @notice A buyer tries an old listing id of the token (cancelled, replaced, bought, expired, moved), or
    ///         its latest one when the market does not show it (e.g. an account seller whose owners changed:
    ///         the old holder buying the account's asset back).
    function buyStale(uint256 buyerSeed, uint256 tokenSeed, uint256 pick) external action {
        uint256 id = _token(tokenSeed);
        uint256[] storage h = _history[id];
        if (h.length == 0) return;
        uint256 listingId = h[pick % h.length];
        address buyer = _eoas[buyerSeed % EOAS];
        if (listingId == latestListing[id] && _liveFor(id, buyer)) return; // that one is not stale
        _attemptBuy(buyerSeed % EOAS + EOAS, id, listingId, _listing[listingId].price, false);
    }

    /// @notice ETH forced into the market by SELFDESTRUCT.
    function forceEth(uint96 amount) external action {
        uint256 value = 1 + uint256(amount) % 1 ether;
        vm.deal(address(this), address(this).balance + value);
        new ForceSend{value: value}(payable(address(market)));
        ghostForced += value;
    }

    /// @notice The wallet starts or stops refusing ETH (payouts to it are then credited).
    function setRefusing(bool refusing) external action {
        wallet.setRefusing(refusing);
    }

    /// @notice The wallet withdraws its credit, to itself or to an EOA.
    function withdraw(uint256 toSeed, bool useTo) external action {
        if (market.owedTo(address(wallet)) == 0) return;
        bytes memory data = useTo
            ? abi.encodeCall(MemoryMarket.withdrawTo, (payable(_eoas[toSeed % EOAS])))
            : abi.encodeCall(MemoryMarket.withdraw, ());
        (bool ok,) = _do(address(wallet), address(market), 0, data);
        if (ok) ++nWithdrawals;
    }

    /// @notice Time passes (listings expire).
    function warp(uint256 secondsSeed) external action {
        vm.warp(block.timestamp + 1 + secondsSeed % 2 days);
        vm.roll(block.number + 1);
    }

    // ================================================================== actions: draining accounts

    /// @notice The holder empties a token's account by `execute`: ETH, ERC-20 or a nested token to itself.
    function drain(uint256 tokenSeed, uint256 kind, uint256 pick) external action {
        uint256 id = _token(tokenSeed);
        _create(id);
        _drain(_accounts[id], kind % 3, pick);
    }

    /// @notice A token's account grants an EOA an ERC-20 allowance, a token approval or operator rights
    ///         (only possible while unlocked: these are the pre-listing approvals of the residual risk).
    function grant(uint256 tokenSeed, uint256 spenderSeed, uint256 kind, uint256 amount, uint256 pick) external action {
        uint256 id = _token(tokenSeed);
        _create(id);
        _grant(_accounts[id], _eoas[spenderSeed % EOAS], kind % 3, amount % 2000, pick);
    }

    /// @notice The holder signs an ERC-20 permit for its account (ERC-1271): valid only while unlocked.
    function permit(uint256 tokenSeed, uint256 spenderSeed, uint256 amount) external action {
        _permit(_token(tokenSeed), _eoas[spenderSeed % EOAS], amount % 2000);
    }

    /// @notice A spender uses an approval the account granted: ERC-20 `transferFrom` or a nested token.
    function pull(uint256 tokenSeed, uint256 spenderSeed, uint256 kind, uint256 pick) external action {
        uint256 id = _token(tokenSeed);
        _pull(_accounts[id], _eoas[spenderSeed % EOAS], kind % 2, pick);
    }

    // ================================================================== views for the invariants

    function buyCount() external view returns (uint256) {
        return _buys.length;
    }

    function buyRecord(uint256 i) external view returns (BuyRecord memory) {
        return _buys[i];
    }

    function saleCount() external view returns (uint256) {
        return _sales.length;
    }

    function saleRecord(uint256 i) external view returns (SaleRecord memory) {
        return _sales[i];
    }

    function accountOf(uint256 tokenId) external view returns (address) {
        return _accounts[tokenId];
    }

    /// @notice The token whose account `account` is, 0 if none.
    function tokenOfAccount(address account) external view returns (uint256) {
        return _tokenOfAccount[account];
    }

    /// @notice The ghost model's answer to "does the token have a live listing".
    function ghostLive(uint256 tokenId) external view returns (bool) {
        return _ghostLive(tokenId);
    }

    /// @notice Prints the activity counters (forge shows them with -vv).
    function logActivity() external view {
        _log("mints", nMints);
        _log("lists", nLists);
        _log("cancels", nCancels);
        _log("transfers", nTransfers);
        _log("nests (into accounts)", nNests);
        _log("cycles refused", nCyclesRefused);
        _log("cycles through uncreated accounts (residual)", nResidualCycles);
        _log("round trips", nRoundTrips);
        _log("drains", nDrains);
        _log("grants (pre-listing)", nGrants);
        _log("permits (pre-listing)", nPermits);
        _log("residual pulls", nResidualPulls);
        _log("gifts", nGifts);
        _log("locked-account actions refused", nBlocked);
        _log("reads", nReads);
        _log("front-runs", nFrontRuns);
        _log("buys", nBuys);
        _log("buys refused", nBuysFailed);
        _log("stale buys refused", nStaleRefused);
        _log("withdrawals", nWithdrawals);
        _log("calls", nCalls);
        _log("observed buys", nObservedBuys);
        _log("observed buys of a non-empty account", nNonEmptyBuys);
        _log("observed buys after a residual pull", nResidualBuys);
    }

    // ================================================================== internals: acting

    /// @dev Makes `who` call `to`: an EOA by prank, the wallet by `exec`, an account through the `execute`
    ///      chain of its owners (each account calls the next one's `execute`). Never reverts.
    function _callAs(address who, address to, uint256 value, bytes memory data, uint256 depth)
        internal
        returns (bool ok, bytes memory ret)
    {
        if (depth > MAX_TOKENS + 1) return (false, "");
        uint256 k = _tokenOfAccount[who];
        if (k != 0) {
            if (who.code.length == 0) return (false, "");
            return _callAs(
                nft.ownerOf(k), who, 0, abi.encodeCall(MemoryAccount.execute, (to, value, data, uint8(0))), depth + 1
            );
        }
        if (who == address(wallet)) {
            vm.deal(who, who.balance + value);
            try wallet.exec(to, value, data) returns (bytes memory r) {
                return (true, r);
            } catch (bytes memory r) {
                return (false, r);
            }
        }
        vm.deal(who, who.balance + value);
        vm.prank(who);
        (ok, ret) = to.call{value: value}(data);
    }

    /// @dev `_callAs` with flow tracking; an account acting while its chain is locked is a violation.
    function _do(address who, address to, uint256 value, bytes memory data)
        internal
        returns (bool ok, bytes memory ret)
    {
        bool locked = _chainLive(who);
        Balances memory before = _balances(false);
        (ok, ret) = _callAs(who, to, value, data, 0);
        _settleFlows(before, address(0), address(0));
        if (locked) {
            if (ok) ++ghostLockedActions;
            else ++nBlocked;
        }
    }

    function _mintAs(address creator, address to, uint256[] memory parents, uint256 royaltyBps, bool createAcct)
        internal
    {
        IMemoryNFT.MintParams memory p;
        p.to = to;
        p.checksum = keccak256(abi.encode("hostile", tokenCount + 1));
        p.sourceModel = "a";
        p.targetModel = "b";
        p.version = "1.0.0";
        p.royaltyBps = uint96(royaltyBps);
        p.parents = parents;
        p.createAccount = createAcct;
        p.salt = bytes32(tokenCount + 1);
        _callAs(
            creator,
            address(nft),
            0,
            abi.encodeCall(nft.commitMint, (nft.mintCommitment(p.checksum, creator, p.salt))),
            0
        );
        vm.roll(block.number + 1);
        (bool ok,) = _callAs(creator, address(nft), 0, abi.encodeCall(MemoryNFT.mint, (p)), 0);
        if (!ok) return;
        uint256 id = ++tokenCount;
        address acct = nft.accountOf(id);
        _accounts[id] = acct;
        _tokenOfAccount[acct] = id;
        ++nMints;
        if (_tokenOfAccount[to] != 0) ++nNests;
    }

    function _create(uint256 id) internal {
        if (_accounts[id].code.length != 0) return;
        registry.createAccount(address(nft.accountImplementation()), bytes32(0), block.chainid, address(nft), id);
    }

    function _transfer(uint256 id, address holder, address to, uint8 mode) internal {
        bool cycle = _isUnder(to, _accounts[id]) || to == _accounts[id];
        // The documented residual: the NFT cannot follow an account without code, so a cycle closed through
        // an uncreated account goes through. The client never sends it; now and then a hostile holder does.
        bool unseen = cycle && _passesUncreated(to, _accounts[id]);
        if (unseen && mode < 224) return;
        address from = holder;
        address caller = holder;
        if (mode % 3 == 2) {
            // through an operator or approved EOA, if the holder made one
            for (uint256 i; i < EOAS; ++i) {
                if (nft.isApprovedForAll(holder, _eoas[i]) || nft.getApproved(id) == _eoas[i]) caller = _eoas[i];
            }
        }
        bytes memory data = mode % 3 == 1
            ? abi.encodeWithSignature("safeTransferFrom(address,address,uint256)", from, to, id)
            : abi.encodeCall(IERC721.transferFrom, (from, to, id));
        // An operator moving a token out of an account uses an approval the account granted.
        bool byApproval = caller != holder && _tokenOfAccount[holder] != 0;
        bool modelled = byApproval && _modelledApproval(holder, caller, id);
        (bool ok,) = _do(caller, address(nft), 0, data);
        if (ok) {
            if (byApproval) {
                if (modelled) ++residualNft[id];
                else ++ghostUnexplainedPulls;
                ++nResidualPulls;
            }
            ++nTransfers;
            if (_tokenOfAccount[to] != 0) ++nNests;
            if (unseen) {
                closedCycleUnseen[id] = true;
                ++nResidualCycles;
            }
        } else if (cycle) {
            ++nCyclesRefused;
        }
    }

    function _roundTrip(uint256 id, uint256 viaSeed, uint256 buyerSeed) internal {
        address holder = nft.ownerOf(id);
        address via = _eoas[viaSeed % EOAS];
        if (via == holder) via = _eoas[(viaSeed % EOAS + 1) % EOAS];
        uint256 listingId = latestListing[id];
        (bool ok,) = _do(holder, address(nft), 0, abi.encodeCall(IERC721.transferFrom, (holder, via, id)));
        if (!ok) return;
        (ok,) = _do(via, address(nft), 0, abi.encodeCall(IERC721.transferFrom, (via, holder, id)));
        if (!ok) return;
        ++nRoundTrips;
        if (listingId != 0 && !_listing[listingId].ended) {
            // the listing made before the round trip: same seller, same price, must be dead
            _attemptBuy(buyerSeed % EOAS + EOAS, id, listingId, _listing[listingId].price, false);
        }
    }

    function _approveAndList(uint256 id, uint256 price, uint64 expiresAt, bool forAll) internal {
        address holder = nft.ownerOf(id);
        if (nft.getApproved(id) != address(market) && !nft.isApprovedForAll(holder, address(market))) {
            _do(
                holder,
                address(nft),
                0,
                forAll
                    ? abi.encodeCall(IERC721.setApprovalForAll, (address(market), true))
                    : abi.encodeCall(IERC721.approve, (address(market), id))
            );
        }
        _list(holder, id, price, expiresAt);
    }

    function _list(address holder, uint256 id, uint256 price, uint64 expiresAt) internal returns (bool ok) {
        address root = _root(holder);
        uint256 transferCount = nft.transferCountOf(id);
        (ok,) = _do(holder, address(market), 0, abi.encodeCall(MemoryMarket.list, (id, price, expiresAt)));
        if (!ok) return false;
        uint256 listingId = market.lastListingId();
        if (listingId <= lastListingId || _listing[listingId].tokenId != 0 || _listingOf(id).listingId != listingId) {
            ++ghostListingIdReuse;
        }
        lastListingId = listingId;
        _cancelled(id);
        _listing[listingId] = ListingGhost({
            tokenId: id,
            seller: holder,
            sellerRoot: root,
            price: price,
            expiresAt: expiresAt,
            transferCount: transferCount,
            ended: false
        });
        latestListing[id] = listingId;
        _history[id].push(listingId);
        ++nLists;
    }

    /// @dev The ghost's side of a cancel or re-list: the token's latest listing ended, if the market agrees.
    function _cancelled(uint256 id) internal {
        uint256 listingId = latestListing[id];
        if (listingId != 0 && _listingOf(id).listingId != listingId) _listing[listingId].ended = true;
    }

    function _drainAll(address acct) internal {
        _drain(acct, 0, 0);
        _drain(acct, 1, 0);
        _drain(acct, 2, 0);
    }

    function _drain(address acct, uint256 kind, uint256 pick) internal {
        if (acct.code.length == 0) return;
        address root = _root(acct);
        bool ok;
        if (kind == 0) {
            (ok,) = _do(acct, root, acct.balance, "");
        } else if (kind == 1) {
            (ok,) = _do(acct, address(erc20), 0, abi.encodeCall(IERC20.transfer, (root, erc20.balanceOf(acct))));
        } else {
            uint256 j = _nestedIn(acct, pick);
            if (j == 0) return;
            (ok,) = _do(acct, address(nft), 0, abi.encodeCall(IERC721.transferFrom, (acct, root, j)));
        }
        if (ok) ++nDrains;
    }

    /// @dev kind 0: ERC-20 allowance; 1: approval of a nested token; 2: operator for all the account's tokens.
    function _grant(address acct, address spender, uint256 kind, uint256 amount, uint256 pick) internal {
        bool locked = _chainLive(acct);
        bool ok;
        uint256 j;
        if (kind == 0) {
            (ok,) = _do(acct, address(erc20), 0, abi.encodeCall(IERC20.approve, (spender, amount)));
        } else if (kind == 1) {
            j = _nestedIn(acct, pick);
            if (j == 0) return;
            (ok,) = _do(acct, address(nft), 0, abi.encodeCall(IERC721.approve, (spender, j)));
        } else {
            (ok,) = _do(acct, address(nft), 0, abi.encodeCall(IERC721.setApprovalForAll, (spender, true)));
        }
        if (!ok || locked) return; // a locked grant is counted by `_do`; it is not a pre-listing approval
        if (kind == 0) _preListingAllowance[acct][spender] = amount;
        else if (kind == 1) (_preListingApprovee[j], _preListingApprover[j]) = (spender, acct);
        else _preListingOperator[acct][spender] = true;
        ++nGrants;
    }

    /// @dev The holder (an EOA) signs a permit for the token's account; the spender submits it.
    function _permit(uint256 id, address spender, uint256 amount) internal {
        address acct = _accounts[id];
        uint256 key = _keyOf(nft.ownerOf(id));
        if (key == 0 || acct.code.length == 0) return;
        uint256 deadline = block.timestamp + 1 days;
        bytes32 digest = erc20.permitDigest(spender, amount, erc20.nonces(acct), deadline);
        bytes memory sig = AccountSig.personalSign(key, acct, digest);
        bool locked = _chainLive(acct);
        (bool ok,) =
            _do(spender, address(erc20), 0, abi.encodeCall(PermitERC20.permit, (acct, spender, amount, deadline, sig)));
        if (locked) {
            if (ok) ++ghostLockedActions;
            else ++nBlocked;
        } else if (ok) {
            _preListingAllowance[acct][spender] = amount;
            ++nPermits;
        }
    }

    function _pullAll(address acct) internal {
        for (uint256 i; i < EOAS; ++i) {
            _pull(acct, _eoas[i], 0, 0);
            _pull(acct, _eoas[i], 1, i);
        }
    }

    /// @dev kind 0: ERC-20 through the allowance; 1: a nested token through a token or operator approval.
    function _pull(address acct, address spender, uint256 kind, uint256 pick) internal {
        if (kind == 0) {
            uint256 amount = erc20.allowance(acct, spender);
            uint256 balance = erc20.balanceOf(acct);
            if (amount > balance) amount = balance;
            if (amount == 0) return;
            Balances memory before = _balances(false);
            (bool ok,) =
                _callAs(spender, address(erc20), 0, abi.encodeCall(IERC20.transferFrom, (acct, spender, amount)), 0);
            _settleFlows(before, acct, spender);
            if (ok) ++nResidualPulls;
        } else {
            uint256 j = _nestedIn(acct, pick);
            if (j == 0) return;
            bool modelled = _modelledApproval(acct, spender, j);
            (bool ok,) = _do(spender, address(nft), 0, abi.encodeCall(IERC721.transferFrom, (acct, spender, j)));
            if (!ok) return;
            if (modelled) ++residualNft[j];
            else ++ghostUnexplainedPulls;
            ++nResidualPulls;
        }
    }

    /// @dev Whether `spender` may move token `j` out of `acct` through an approval `acct` granted unlocked.
    function _modelledApproval(address acct, address spender, uint256 j) internal view returns (bool) {
        return (nft.getApproved(j) == spender && _preListingApprovee[j] == spender && _preListingApprover[j] == acct)
            || (nft.isApprovedForAll(acct, spender) && _preListingOperator[acct][spender]);
    }

    // ================================================================== internals: buying

    /// @dev Opens an order in `slot` on a live listing that its buyer did not make; if there is none, the
    ///      holder of a token lists it first (an honest seller). Returns whether an order is open.
    function _open(uint256 slot, uint256 tokenSeed, uint256 priceSeed) internal returns (bool) {
        address buyer = _eoas[slot % EOAS];
        uint256 id = _findLive(tokenSeed, buyer);
        for (uint256 i; id == 0 && i < tokenCount; ++i) {
            // Some tokens cannot be listed now (a locked chain above their holder account, an uncreated holder
            // account); a listed one the buyer cannot take (approval revoked) its holder re-approves and re-lists.
            uint256 candidate = _token(tokenSeed % tokenCount + i);
            if (nft.ownerOf(candidate) == buyer) continue;
            _approveAndList(candidate, 1 + priceSeed % 5 ether, uint64(block.timestamp + 1 days), priceSeed % 2 == 0);
            if (_liveFor(candidate, buyer)) id = candidate;
        }
        if (id == 0) return false;
        _read(slot, id);
        return true;
    }

    /// @dev The residual attack from the start: the token's account approves an accomplice (ERC-20 allowance
    ///      and operator for its nested tokens) while unlocked, then the holder lists and a buyer reads.
    function _openWithAccomplice(uint256 slot, uint256 seed) internal returns (bool) {
        address buyer = _eoas[slot % EOAS];
        uint256 id = _token(seed);
        if (nft.ownerOf(id) == buyer || _ghostLive(id)) return false;
        _create(id);
        address acct = _accounts[id];
        address accomplice = _eoas[(seed >> 64) % EOAS];
        _do(accomplice, address(erc20), 0, abi.encodeCall(PermitERC20.mint, (acct, 100)));
        _grant(acct, accomplice, 0, 1000, 0);
        _grant(acct, accomplice, 2, 0, 0);
        _approveAndList(id, 1 + (seed >> 128) % 5 ether, uint64(block.timestamp + 1 days), seed % 2 == 0);
        if (!_liveFor(id, buyer)) return false;
        _read(slot, id);
        return true;
    }

    function _read(uint256 slot, uint256 id) internal {
        IMemoryMarket.ListingView memory v = _listingOf(id);
        Order storage o = _orders[slot];
        o.tokenId = id;
        o.listingId = v.listingId;
        o.price = v.price;
        o.tokens = tokenCount;
        o.open = true;
        address top = _accounts[id];
        for (uint256 j = 1; j <= tokenCount; ++j) {
            Snap storage s = _snaps[slot][j];
            address acct = _accounts[j];
            s.owner = nft.ownerOf(j);
            s.inTree = j == id || _isUnder(acct, top);
            s.eth = acct.balance;
            s.erc20 = erc20.balanceOf(acct);
            s.inflowEth = inflowEth[j];
            s.inflowErc20 = inflowErc20[j];
            s.residualErc20 = residualErc20[j];
            s.residualNft = residualNft[j];
        }
        ++nReads;
    }

    function _executeOrder(uint256 slot) internal {
        Order storage o = _orders[slot];
        o.open = false;
        _attemptBuy(slot, o.tokenId, o.listingId, o.price, true);
    }

    /// @dev One buy attempt by the EOA of `slot`, recorded whatever the outcome. On success: checks against
    ///      the ghost listing, the payout split, and (for an order) what the buyer read.
    function _attemptBuy(uint256 slot, uint256 id, uint256 listingId, uint256 price, bool observed) internal {
        BuyRecord memory r;
        r.tokenId = id;
        r.listingId = listingId;
        r.price = price;
        r.buyer = _eoas[slot % EOAS];
        r.observed = observed;
        bool dead = _isDead(id, listingId, price);
        address seller = nft.ownerOf(id); // who a valid listing pays: it has not moved since the listing
        bool badSeller =
            _tokenOfAccount[seller] != 0 && (_root(seller) != _listing[listingId].sellerRoot || _chainLive(seller));
        Payouts memory p = _expectedPayouts(id, price, seller);

        vm.deal(r.buyer, r.buyer.balance + price);
        Balances memory before = _balances(true);
        vm.prank(r.buyer);
        (bool ok, bytes memory err) =
            address(market).call{value: price}(abi.encodeCall(MemoryMarket.buy, (id, listingId)));
        _settleFlows(before, address(0), address(0));
        r.ok = ok;
        if (!ok) {
            r.error = bytes4(err);
            ++nBuysFailed;
            if (dead) ++nStaleRefused;
            _buys.push(r);
            return;
        }
        ++nBuys;
        if (dead || _bought[listingId]) ++ghostDeadListingSales;
        if (badSeller) ++ghostAccountSellerSales;
        _bought[listingId] = true;
        _listing[listingId].ended = true;
        _recordSale(id, listingId, price, r.buyer, p, before);
        r.delivered = nft.ownerOf(id) == r.buyer;
        if (observed) {
            _compare(slot, r);
            ++nObservedBuys;
            if (r.seenEth + r.seenErc20 + r.seenNfts != 0) ++nNonEmptyBuys;
            if (r.residualErc20 + r.residualNfts != 0) ++nResidualBuys;
        }
        _buys.push(r);
    }

    /// @dev By the ghost model: the listing cannot be bought (ended, replaced, expired, moved, other price).
    function _isDead(uint256 id, uint256 listingId, uint256 price) internal view returns (bool) {
        ListingGhost storage g = _listing[listingId];
        return g.tokenId != id || g.ended || _bought[listingId] || latestListing[id] != listingId
            || block.timestamp > g.expiresAt || nft.transferCountOf(id) != g.transferCount || g.price != price
            || nft.ownerOf(id) != g.seller;
    }

    /// @dev Compares what the buyer holds now with what it read, item by item, over the tree at the read.
    function _compare(uint256 slot, BuyRecord memory r) internal view {
        Order storage o = _orders[slot];
        for (uint256 j = 1; j <= o.tokens; ++j) {
            Snap storage s = _snaps[slot][j];
            if (!s.inTree) continue;
            if (j != o.tokenId) {
                ++r.seenNfts;
                if (_exempt(slot, j, o.tokenId)) {
                    ++r.residualNfts;
                    continue;
                }
                if (nft.ownerOf(j) == s.owner) ++r.keptNfts;
                else ++r.mismatches;
            }
            address acct = _accounts[j];
            uint256 inEth = inflowEth[j] - s.inflowEth;
            r.seenEth += s.eth;
            r.inflowEth += inEth;
            r.gotEth += acct.balance;
            if (acct.balance != s.eth + inEth) ++r.mismatches;
            uint256 inToken = inflowErc20[j] - s.inflowErc20;
            uint256 residual = residualErc20[j] - s.residualErc20;
            uint256 got = erc20.balanceOf(acct);
            r.seenErc20 += s.erc20;
            r.inflowErc20 += inToken;
            r.residualErc20 += residual;
            r.gotErc20 += got;
            if (got + residual != s.erc20 + inToken) ++r.mismatches;
        }
    }

    /// @dev Whether token `j` (or a token between it and `top`) left through a pre-listing approval since the read.
    function _exempt(uint256 slot, uint256 j, uint256 top) internal view returns (bool) {
        for (uint256 steps; steps <= MAX_TOKENS && j != 0 && j != top; ++steps) {
            Snap storage s = _snaps[slot][j];
            if (residualNft[j] != s.residualNft) return true;
            j = _tokenOfAccount[s.owner];
        }
        return false;
    }

    struct Payouts {
        address[] to;
        uint256[] amount;
        uint256 royalties;
        uint256 proceeds;
    }

    /// @dev The split by the documented rule: creator royalty, each ancestor's share to its account, the
    ///      rest to the seller.
    function _expectedPayouts(uint256 id, uint256 price, address seller) internal view returns (Payouts memory p) {
        (address creator, uint256 own) = nft.royaltyInfo(id, price);
        (uint256[] memory ancestors, uint16[] memory bps) = nft.royaltyTable(id);
        uint256 n = ancestors.length;
        p.to = new address[](n + 2);
        p.amount = new uint256[](n + 2);
        (p.to[0], p.amount[0]) = (creator, own);
        p.royalties = own;
        for (uint256 i; i < n; ++i) {
            (p.to[i + 1], p.amount[i + 1]) = (_accounts[ancestors[i]], price * bps[i] / 10_000);
            p.royalties += p.amount[i + 1];
        }
        p.proceeds = price - p.royalties;
        (p.to[n + 1], p.amount[n + 1]) = (seller, p.proceeds);
    }

    function _recordSale(
        uint256 id,
        uint256 listingId,
        uint256 price,
        address buyer,
        Payouts memory p,
        Balances memory b
    ) internal {
        Balances memory a = _balances(true);
        SaleRecord memory s = SaleRecord({
            tokenId: id,
            listingId: listingId,
            price: price,
            royalties: p.royalties,
            proceeds: p.proceeds,
            received: 0,
            mismatches: 0
        });
        for (uint256 i; i < b.eth.length; ++i) {
            address who = _participant(i);
            int256 got = int256(a.eth[i]) - int256(b.eth[i]) + int256(a.owed[i]) - int256(b.owed[i]);
            if (who == buyer) got += int256(price);
            uint256 want;
            for (uint256 k; k < p.to.length; ++k) {
                if (p.to[k] == who) want += p.amount[k];
            }
            s.received = uint256(int256(s.received) + got);
            if (got != int256(want)) ++s.mismatches;
        }
        _sales.push(s);
    }

    // ================================================================== internals: flows

    struct Balances {
        uint256[] eth;
        uint256[] erc20;
        uint256[] owed;
    }

    /// @dev Participants: the EOAs, the wallet, then every token's account (by token id).
    function _participants() internal view returns (uint256) {
        return EOAS + 1 + tokenCount;
    }

    function _participant(uint256 i) internal view returns (address) {
        if (i < EOAS) return _eoas[i];
        if (i == EOAS) return address(wallet);
        return _accounts[i - EOAS];
    }

    /// @dev ETH and ERC-20 of every token's account; with `full`, also ETH and credit of every participant.
    function _balances(bool full) internal view returns (Balances memory b) {
        uint256 n = _participants();
        b.eth = new uint256[](n);
        b.erc20 = new uint256[](n);
        b.owed = new uint256[](n);
        for (uint256 i = full ? 0 : EOAS + 1; i < n; ++i) {
            address who = _participant(i);
            b.eth[i] = who.balance;
            if (i > EOAS) b.erc20[i] = erc20.balanceOf(who);
            if (full) b.owed[i] = market.owedTo(who);
        }
    }

    /// @dev Books the change of every token account's balances since `b`: increases are inflows; an ERC-20
    ///      decrease of `pulledFrom` is residual up to the allowance it granted `spender` before listing.
    function _settleFlows(Balances memory b, address pulledFrom, address spender) internal {
        Balances memory a = _balances(false);
        for (uint256 i = EOAS + 1; i < b.eth.length; ++i) {
            uint256 j = i - EOAS;
            if (a.eth[i] > b.eth[i]) inflowEth[j] += a.eth[i] - b.eth[i];
            if (a.erc20[i] > b.erc20[i]) {
                inflowErc20[j] += a.erc20[i] - b.erc20[i];
            } else if (a.erc20[i] < b.erc20[i] && _accounts[j] == pulledFrom) {
                uint256 pulled = b.erc20[i] - a.erc20[i];
                uint256 modelled = _preListingAllowance[pulledFrom][spender];
                if (modelled > pulled) modelled = pulled;
                residualErc20[j] += modelled;
                _preListingAllowance[pulledFrom][spender] -= modelled;
                if (pulled > modelled) ++ghostUnexplainedPulls;
            }
        }
    }

    // ================================================================== internals: the ownership graph

    function _token(uint256 seed) internal view returns (uint256) {
        return 1 + seed % tokenCount;
    }

    /// @dev The first owner above `who` that is not one of the tokens' accounts (an EOA or the wallet).
    function _root(address who) internal view returns (address) {
        for (uint256 steps; steps <= MAX_TOKENS + 1; ++steps) {
            uint256 k = _tokenOfAccount[who];
            if (k == 0) return who;
            who = nft.ownerOf(k);
        }
        return address(0); // a cycle
    }

    /// @dev Whether `who` is (transitively) owned by `top`: the owners above `who` reach `top`.
    function _isUnder(address who, address top) internal view returns (bool) {
        for (uint256 steps; steps <= MAX_TOKENS + 1; ++steps) {
            uint256 k = _tokenOfAccount[who];
            if (k == 0) return false;
            who = nft.ownerOf(k);
            if (who == top) return true;
        }
        return false;
    }

    /// @dev Whether the owners from `who` up to `top` pass an account without code (which the NFT's cycle
    ///      check cannot follow).
    function _passesUncreated(address who, address top) internal view returns (bool) {
        for (uint256 steps; steps <= MAX_TOKENS + 1 && who != top; ++steps) {
            if (who.code.length == 0) return true;
            who = nft.ownerOf(_tokenOfAccount[who]);
        }
        return false;
    }

    /// @dev Whether `who` is an account with a ghost-live listing on its chain of tokens (its own or above).
    function _chainLive(address who) internal view returns (bool) {
        for (uint256 steps; steps <= MAX_TOKENS + 1; ++steps) {
            uint256 k = _tokenOfAccount[who];
            if (k == 0) return false;
            if (_ghostLive(k)) return true;
            who = nft.ownerOf(k);
        }
        return false;
    }

    function _ghostLive(uint256 id) internal view returns (bool) {
        uint256 listingId = latestListing[id];
        if (listingId == 0) return false;
        ListingGhost storage g = _listing[listingId];
        return !g.ended && block.timestamp <= g.expiresAt && nft.transferCountOf(id) == g.transferCount;
    }

    /// @dev A token with a live listing (by the market's view) that `buyer` did not make, from `seed` on.
    function _findLive(uint256 seed, address buyer) internal view returns (uint256) {
        for (uint256 i; i < tokenCount; ++i) {
            uint256 id = _token(seed % tokenCount + i);
            if (_liveFor(id, buyer)) return id;
        }
        return 0;
    }

    /// @dev What a buyer's client checks before showing a listing: live, not its own, the approval stands.
    function _liveFor(uint256 id, address buyer) internal view returns (bool) {
        IMemoryMarket.ListingView memory v = _listingOf(id);
        return v.live && v.seller != buyer
            && (nft.getApproved(id) == address(market) || nft.isApprovedForAll(v.seller, address(market)));
    }

    /// @dev The `pick`-th token (cyclically) held directly by `acct`, 0 if none.
    function _nestedIn(address acct, uint256 pick) internal view returns (uint256) {
        for (uint256 i; i < tokenCount; ++i) {
            uint256 j = _token(pick % tokenCount + i);
            if (nft.ownerOf(j) == acct) return j;
        }
        return 0;
    }

    /// @dev `market.listingOf`, empty if the view reverts (it follows a contract seller's owners, and a chain
    ///      of owners that closes into a cycle makes it revert with OwnershipChainTooDeep).
    function _listingOf(uint256 id) internal view returns (IMemoryMarket.ListingView memory v) {
        try market.listingOf(id) returns (IMemoryMarket.ListingView memory got) {
            v = got;
        } catch {}
    }

    function _keyOf(address who) internal view returns (uint256) {
        for (uint256 i; i < EOAS; ++i) {
            if (_eoas[i] == who) return _keys[i];
        }
        return 0;
    }

    function _ids(uint256 a) internal pure returns (uint256[] memory ids) {
        ids = new uint256[](1);
        ids[0] = a;
    }

    function _ids(uint256 a, uint256 b) internal pure returns (uint256[] memory ids) {
        ids = new uint256[](2);
        (ids[0], ids[1]) = (a, b);
    }

    function _log(string memory what, uint256 value) internal view {
        (bool ok,) = CONSOLE.staticcall(abi.encodeWithSignature("log(string,uint256)", what, value));
        ok;
    }
}
