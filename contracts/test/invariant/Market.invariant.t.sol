// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryAccount} from "../../src/accounts/MemoryAccount.sol";
import {BaseTest} from "../utils/BaseTest.sol";
import {MarketHandler} from "./MarketHandler.sol";

/// @notice Invariants of the whole system under random sequences of mints, listings, sales, transfers,
///         account drains, refusing recipients and withdrawals.
contract MarketInvariantTest is BaseTest {
    MarketHandler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new MarketHandler(nft, market, 4);
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// @dev ETH in == ETH paid out + ETH owed, and the market holds nothing but the ledger.
    function invariant_EthInEqualsPaidOutPlusOwed() public view {
        vm.assertEq(handler.ghostIn(), handler.ghostOut() + market.totalOwed(), "in == out + owed");
        vm.assertEq(address(market).balance, market.totalOwed(), "market balance == ledger");
    }

    function invariant_SalePayoutsSumToPrice() public view {
        vm.assertEq(handler.ghostBadSales(), 0, "every sale pays out exactly its price");
    }

    function invariant_AccountOwnerIsNftOwner() public view {
        for (uint256 id = 1; id <= handler.tokenCount(); ++id) {
            address acct = nft.accountOf(id);
            if (acct.code.length == 0) continue;
            vm.assertEq(MemoryAccount(payable(acct)).owner(), nft.ownerOf(id), "account follows the NFT");
        }
    }

    function invariant_ParentsHaveLowerIds() public view {
        for (uint256 id = 1; id <= handler.tokenCount(); ++id) {
            uint256[] memory parents = nft.parentsOf(id);
            for (uint256 i; i < parents.length; ++i) {
                vm.assertLt(parents[i], id, "parent older than child");
            }
            (uint256[] memory ancestors, uint16[] memory bps) = nft.royaltyTable(id);
            uint256 total;
            for (uint256 i; i < ancestors.length; ++i) {
                vm.assertLt(ancestors[i], id, "ancestor older than child");
                total += bps[i];
            }
            vm.assertLe(total, nft.MAX_ANCESTOR_SHARE_BPS(), "ancestor share bound");
        }
    }

    function invariant_ChecksumsUnique() public view {
        for (uint256 id = 1; id <= handler.tokenCount(); ++id) {
            vm.assertEq(nft.tokenIdOfChecksum(nft.memoryOf(id).checksum), id, "one token per checksum");
        }
        vm.assertEq(nft.totalSupply(), handler.tokenCount(), "supply");
    }
}
