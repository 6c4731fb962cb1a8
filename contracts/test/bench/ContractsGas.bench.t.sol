// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryMarket} from "../../src/MemoryMarket.sol";
import {IMemoryNFT} from "../../src/interfaces/IMemoryNFT.sol";
import {BaseTest} from "../utils/BaseTest.sol";
import {PlainERC721} from "../utils/TestTokens.sol";

/// @notice Gas benchmark of the contracts against a plain OpenZeppelin ERC-721 mint, in the same run.
///         Each figure is the execution gas of one external call (what `vm.lastCallGas` reports: no
///         21,000 intrinsic gas, no calldata gas, before refunds), measured with every touched account
///         and slot cold again (`vm.cool`), as in a fresh transaction. Each scenario runs REPS times on
///         fresh tokens; the median is written with `vm.snapshotValue` to the `contracts-gas` group
///         (cache/snapshots/contracts-gas.json), which scripts/bench-contracts turns into a table.
contract ContractsGasBench is BaseTest {
    uint256 internal constant REPS = 5;
    uint256 internal constant PRICE = 1 ether;
    string internal constant GROUP = "contracts-gas";

    PlainERC721 internal plain;
    address[] internal _touched;

    function setUp() public override {
        super.setUp();
        plain = new PlainERC721();
        plain.mint(address(0xF00)); // the counter slot is warm-from-previous-tx (non-zero), as in ours
    }

    function _cool() internal {
        vm.cool(address(nft));
        vm.cool(address(market));
        vm.cool(address(plain));
        vm.cool(address(registry));
        vm.cool(address(accountImpl));
        for (uint256 i; i < _touched.length; ++i) {
            vm.cool(_touched[i]);
        }
        delete _touched;
    }

    function _gas() internal view returns (uint256) {
        return vm.lastCallGas().gasTotalUsed;
    }

    function _record(string memory name, uint256[REPS] memory samples) internal {
        // Insertion sort; REPS is odd.
        for (uint256 i = 1; i < REPS; ++i) {
            for (uint256 j = i; j > 0 && samples[j - 1] > samples[j]; --j) {
                (samples[j - 1], samples[j]) = (samples[j], samples[j - 1]);
            }
        }
        vm.snapshotValue(GROUP, name, samples[REPS / 2]);
    }

    function _receiver(uint256 i) internal pure returns (address) {
        return address(uint160(0x5EC00000 + i));
    }

    // ------------------------------------------------------------------ scenarios

    function test_bench() public {
        _benchBaseline();
        _benchMint();
        _benchTransferAndAnchor();
        _benchList();
        _benchBuy(1, 0, false, "buy_0_ancestors");
        _benchBuy(2, 2, false, "buy_2_ancestors_fresh_accounts");
        _benchBuy(3, 2, true, "buy_2_ancestors_funded_accounts");
        _benchBuy(4, 8, false, "buy_8_ancestors_fresh_accounts");
        _benchBuy(5, 8, true, "buy_8_ancestors_funded_accounts");
        _benchAccountCreation();
    }

    function _benchBaseline() internal {
        uint256[REPS] memory mintGas;
        uint256[REPS] memory transferGas;
        for (uint256 i; i < REPS; ++i) {
            _cool();
            uint256 id = plain.mint(_receiver(i));
            mintGas[i] = _gas();
            _cool();
            vm.prank(_receiver(i));
            plain.transferFrom(_receiver(i), _receiver(100 + i), id);
            transferGas[i] = _gas();
        }
        _record("oz_mint_baseline", mintGas);
        _record("oz_transfer_baseline", transferGas);
    }

    function _benchMint() internal {
        uint256[REPS] memory noParents;
        uint256[REPS] memory twoParents;
        uint256[REPS] memory withAccount;
        for (uint256 i; i < REPS; ++i) {
            _cool();
            vm.prank(_receiver(i));
            uint256 a = nft.mint(_params(_receiver(i), _nextChecksum(), new uint256[](0)));
            noParents[i] = _gas();
            vm.prank(_receiver(i));
            uint256 b = nft.mint(_params(_receiver(i), _nextChecksum(), new uint256[](0)));
            _cool();
            vm.prank(_receiver(i));
            nft.mint(_params(_receiver(i), _nextChecksum(), _ids(a, b)));
            twoParents[i] = _gas();
            IMemoryNFT.MintParams memory p = _params(_receiver(i), _nextChecksum(), new uint256[](0));
            p.createAccount = true;
            _cool();
            vm.prank(_receiver(i));
            nft.mint(p);
            withAccount[i] = _gas();
        }
        _record("mint_no_parents", noParents);
        _record("mint_2_parents", twoParents);
        _record("mint_with_account", withAccount);
    }

    /// @dev What creating an account through the registry costs on its own (part of mint_with_account).
    function _benchAccountCreation() internal {
        uint256[REPS] memory samples;
        for (uint256 i; i < REPS; ++i) {
            uint256 id = _mintBy(_receiver(i));
            _cool();
            registry.createAccount(address(accountImpl), 0, block.chainid, address(nft), id);
            samples[i] = _gas();
        }
        _record("registry_create_account", samples);
    }

    function _benchTransferAndAnchor() internal {
        uint256[REPS] memory transferGas;
        uint256[REPS] memory anchorGas;
        for (uint256 i; i < REPS; ++i) {
            uint256 id = _mintBy(_receiver(i));
            _cool();
            vm.prank(_receiver(i));
            nft.transferFrom(_receiver(i), _receiver(200 + i), id);
            transferGas[i] = _gas();

            IMemoryNFT.Certificate memory c = _cert(_checksumOf(id));
            bytes memory sig = _sign(CERTIFIER_KEY, nft.hashCertificate(c));
            _cool();
            nft.anchorCertificate(id, c, sig);
            anchorGas[i] = _gas();
        }
        _record("transfer", transferGas);
        _record("anchor_certificate", anchorGas);
    }

    function _benchList() internal {
        uint256[REPS] memory samples;
        for (uint256 i; i < REPS; ++i) {
            uint256 id = _mintBy(_receiver(i));
            vm.prank(_receiver(i));
            nft.approve(address(market), id);
            _cool();
            vm.prank(_receiver(i));
            market.list(id, PRICE);
            samples[i] = _gas();
        }
        _record("list", samples);
    }

    /// @dev A token with `ancestors` parents (no grandparents), sold by a funded seller EOA that is not
    ///      its creator (also funded) to a funded buyer that holds no memory NFT yet (first purchase:
    ///      its ERC-721 balance slot goes from zero). `funded`: the ancestors' account addresses already
    ///      hold ETH (a previous sale paid them), else this sale is their first income (+25,000 gas each
    ///      for a new account). Every scenario uses its own addresses (`scenario`).
    function _benchBuy(uint256 scenario, uint256 ancestors, bool funded, string memory name) internal {
        uint256[REPS] memory samples;
        uint256[REPS] memory refunds;
        for (uint256 i; i < REPS; ++i) {
            address creator = _receiver(1000 * scenario + 300 + i);
            address seller = _receiver(1000 * scenario + 400 + i);
            address buyer = _receiver(1000 * scenario + 500 + i);
            vm.deal(creator, 1);
            vm.deal(seller, 1);
            vm.deal(buyer, PRICE);
            uint256[] memory parents = new uint256[](ancestors);
            for (uint256 k; k < ancestors; ++k) {
                parents[k] = _mintBy(creator);
                if (funded) vm.deal(nft.accountOf(parents[k]), 1);
                _touched.push(nft.accountOf(parents[k]));
            }
            uint256 id = _mintBy(creator, parents);
            vm.prank(creator);
            nft.transferFrom(creator, seller, id);
            _list(seller, id, PRICE);
            _touched.push(creator);
            _touched.push(seller);
            _touched.push(buyer);
            _touched.push(nft.accountOf(id));
            _cool();
            vm.prank(buyer);
            market.buy{value: PRICE}(id);
            samples[i] = _gas();
            refunds[i] = uint256(int256(vm.lastCallGas().gasRefunded));
        }
        _record(name, samples);
        _record(string.concat(name, "_refund"), refunds);
    }
}
