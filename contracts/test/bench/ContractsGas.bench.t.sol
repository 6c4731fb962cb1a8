// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryAccount} from "../../src/accounts/MemoryAccount.sol";
import {IMemoryNFT} from "../../src/interfaces/IMemoryNFT.sol";
import {BaseTest} from "../utils/BaseTest.sol";
import {PlainERC721} from "../utils/TestTokens.sol";
import {Vm} from "../utils/Vm.sol";

/// @notice Gas benchmark of the contracts against a plain OpenZeppelin ERC-721 mint, in the same run.
///         Run it with `forge test --isolate` (scripts/bench-contracts does): every measured call is then
///         its own transaction, so every account and slot it touches starts cold, as on a real chain
///         (`vm.cool` alone does not cool accounts the test touched earlier, e.g. funded EOAs). Each
///         figure is the call's execution gas: the transaction's gas minus the 21,000 intrinsic and the
///         calldata gas, before the EIP-3529 refund (the refund and the receipt's gasUsed are recorded
///         too). Each scenario runs REPS times on fresh tokens and fresh addresses; the median is written
///         with `vm.snapshotValue` to the `contracts-gas` group (cache/snapshots/contracts-gas.json),
///         which scripts/bench-contracts turns into a table. Without --isolate the scenarios still run
///         (a smoke test of every path) but nothing is recorded.
contract ContractsGasBench is BaseTest {
    uint256 internal constant REPS = 5;
    uint256 internal constant PRICE = 1 ether;
    string internal constant GROUP = "contracts-gas";

    /// @dev One metric's samples: execution gas (before refund), refund, receipt gasUsed.
    struct Samples {
        uint256[REPS] exec;
        uint256[REPS] refund;
        uint256[REPS] txGas;
    }

    PlainERC721 internal plain;
    bool internal isolated;

    function setUp() public override {
        super.setUp();
        plain = new PlainERC721();
        plain.mint(address(0xF00)); // the counter slot is non-zero, as in ours
    }

    /// @dev Sends `data` to `target` from `sender` with `value`, reverting with the call's error; in
    ///      `--isolate` mode also stores the call's gas as sample `i` of `s`.
    function _send(Samples memory s, uint256 i, address sender, address target, uint256 value, bytes memory data)
        internal
        returns (bytes memory ret)
    {
        bool ok;
        vm.prank(sender);
        (ok, ret) = target.call{value: value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        if (!isolated) return ret;
        Vm.Gas memory g = vm.lastCallGas();
        uint256 refund = uint256(int256(g.gasRefunded));
        s.txGas[i] = g.gasTotalUsed;
        s.refund[i] = refund;
        s.exec[i] = g.gasTotalUsed + refund - _intrinsicGas(data);
    }

    /// @dev 21,000 + 4 gas per zero calldata byte + 16 per other byte (EIP-2028; Cancun, no EIP-7623 floor).
    function _intrinsicGas(bytes memory data) internal pure returns (uint256 gas) {
        gas = 21_000;
        for (uint256 i; i < data.length; ++i) {
            gas += data[i] == 0 ? 4 : 16;
        }
    }

    function _record(string memory name, Samples memory s) internal {
        if (!isolated) return;
        vm.snapshotValue(GROUP, name, _median(s.exec));
        vm.snapshotValue(GROUP, string.concat(name, "_refund"), _median(s.refund));
        vm.snapshotValue(GROUP, string.concat(name, "_tx"), _median(s.txGas));
    }

    function _median(uint256[REPS] memory samples) internal pure returns (uint256) {
        // Insertion sort; REPS is odd.
        for (uint256 i = 1; i < REPS; ++i) {
            for (uint256 j = i; j > 0 && samples[j - 1] > samples[j]; --j) {
                (samples[j - 1], samples[j]) = (samples[j], samples[j - 1]);
            }
        }
        return samples[REPS / 2];
    }

    function _receiver(uint256 i) internal pure returns (address) {
        return address(uint160(0x5EC00000 + i));
    }

    // ------------------------------------------------------------------ scenarios

    /// @dev Whether this run is `--isolate`: a call that costs far less than 21,000 gas to execute shows the
    ///      21,000 intrinsic gas only when it is its own transaction. (Deciding it from a measured call, as
    ///      before, took a plain run's 200k-gas mint for a transaction and recorded warm figures.)
    function _probeIsolation() internal {
        (bool ok,) = address(plain).call(abi.encodeCall(plain.balanceOf, (address(0xF00))));
        require(ok, "bench: probe failed");
        isolated = vm.lastCallGas().gasTotalUsed >= 21_000;
    }

    function test_bench() public {
        _probeIsolation();
        _benchBaseline();
        _benchMint();
        _benchTransferAndAnchor();
        _benchList();
        _benchExecute();
        _benchBuy(1, 0, false, false, false, "buy_0_ancestors");
        _benchBuy(6, 0, false, true, false, "buy_0_ancestors_returning_buyer");
        _benchBuy(7, 0, false, true, true, "buy_0_ancestors_primary_returning_buyer");
        _benchBuy(2, 2, false, false, false, "buy_2_ancestors_fresh_accounts");
        _benchBuy(3, 2, true, false, false, "buy_2_ancestors_funded_accounts");
        _benchBuy(4, 8, false, false, false, "buy_8_ancestors_fresh_accounts");
        _benchBuy(5, 8, true, false, false, "buy_8_ancestors_funded_accounts");
        _benchAccountCreation();
    }

    function _benchBaseline() internal {
        Samples memory mintGas;
        Samples memory transferGas;
        for (uint256 i; i < REPS; ++i) {
            address holder = _receiver(i);
            bytes memory ret = _send(mintGas, i, holder, address(plain), 0, abi.encodeCall(plain.mint, (holder)));
            uint256 id = abi.decode(ret, (uint256));
            _send(
                transferGas,
                i,
                holder,
                address(plain),
                0,
                abi.encodeCall(plain.transferFrom, (holder, _receiver(100 + i), id))
            );
        }
        _record("oz_mint_baseline", mintGas);
        _record("oz_transfer_baseline", transferGas);
    }

    /// @dev Minting is commit-reveal: `commitMint` (one fresh slot) in one transaction, `mint` (the reveal,
    ///      which also clears the commitment) in a later block. `mint_commit` is the first step; the
    ///      `mint_*` figures are the reveal, so a mint costs `mint_commit` + `mint_*`.
    function _benchMint() internal {
        Samples memory commitGas;
        Samples memory noParents;
        Samples memory twoParents;
        Samples memory withAccount;
        for (uint256 i; i < REPS; ++i) {
            address creator = _receiver(i);
            IMemoryNFT.MintParams memory p = _params(creator, _nextChecksum(), new uint256[](0));
            p.salt = keccak256(abi.encode("bench salt", i));
            bytes32 commitment = nft.mintCommitment(p.checksum, creator, p.salt);
            _send(commitGas, i, creator, address(nft), 0, abi.encodeCall(nft.commitMint, (commitment)));
            vm.roll(block.number + 1);
            uint256 a =
                abi.decode(_send(noParents, i, creator, address(nft), 0, abi.encodeCall(nft.mint, (p))), (uint256));
            uint256 b = _mintBy(creator);
            p = _params(creator, _nextChecksum(), _ids(a, b));
            _commit(creator, p);
            _send(twoParents, i, creator, address(nft), 0, abi.encodeCall(nft.mint, (p)));
            p = _params(creator, _nextChecksum(), new uint256[](0));
            p.createAccount = true;
            _commit(creator, p);
            _send(withAccount, i, creator, address(nft), 0, abi.encodeCall(nft.mint, (p)));
        }
        _record("mint_commit", commitGas);
        _record("mint_no_parents", noParents);
        _record("mint_2_parents", twoParents);
        _record("mint_with_account", withAccount);
    }

    /// @dev What creating an account through the registry costs on its own (part of mint_with_account).
    function _benchAccountCreation() internal {
        Samples memory samples;
        for (uint256 i; i < REPS; ++i) {
            uint256 id = _mintBy(_receiver(i));
            bytes memory data =
                abi.encodeCall(registry.createAccount, (address(accountImpl), 0, block.chainid, address(nft), id));
            _send(samples, i, _receiver(i), address(registry), 0, data);
        }
        _record("registry_create_account", samples);
    }

    function _benchTransferAndAnchor() internal {
        Samples memory transferGas;
        Samples memory anchorGas;
        for (uint256 i; i < REPS; ++i) {
            address holder = _receiver(i);
            uint256 id = _mintBy(holder);
            bytes memory data = abi.encodeCall(nft.transferFrom, (holder, _receiver(200 + i), id));
            _send(transferGas, i, holder, address(nft), 0, data);

            IMemoryNFT.Certificate memory c = _cert(_checksumOf(id));
            bytes memory sig = _sign(CERTIFIER_KEY, nft.hashCertificate(c));
            _send(anchorGas, i, certifier, address(nft), 0, abi.encodeCall(nft.anchorCertificate, (id, c, sig)));
        }
        _record("transfer", transferGas);
        _record("anchor_certificate", anchorGas);
    }

    function _benchList() internal {
        Samples memory samples;
        for (uint256 i; i < REPS; ++i) {
            address holder = _receiver(i);
            uint256 id = _mintBy(holder);
            vm.prank(holder);
            nft.approve(address(market), id);
            bytes memory data = abi.encodeCall(market.list, (id, PRICE, _expiry()));
            _send(samples, i, holder, address(market), 0, data);
        }
        _record("list", samples);
    }

    /// @dev The holder of a token calls its (existing) account: `execute` checks the lock first (the NFT
    ///      asks the market whether the token has a live listing). First `execute` of the account (its
    ///      state word goes from zero), a plain call without value to a fresh address.
    function _benchExecute() internal {
        Samples memory samples;
        for (uint256 i; i < REPS; ++i) {
            address holder = _receiver(i);
            uint256 id = _mintBy(holder);
            address acct = registry.createAccount(address(accountImpl), 0, block.chainid, address(nft), id);
            bytes memory data = abi.encodeCall(MemoryAccount.execute, (_receiver(700 + i), 0, "", uint8(0)));
            _send(samples, i, holder, acct, 0, data);
        }
        _record("account_execute", samples);
    }

    /// @dev A token with `ancestors` parents (no grandparents), sold by a funded seller EOA that is not
    ///      its creator (also funded) to a funded buyer; `primary`: the creator sells it itself.
    ///      `returning`: the buyer already holds a memory NFT (its ERC-721 balance word is non-zero), else
    ///      this is its first (22,100 gas for the word). `funded`: the ancestors' account addresses
    ///      already hold ETH (a previous sale paid them), else this sale is their first income (+25,000
    ///      gas each for a new account). Every scenario uses its own addresses (`scenario`).
    function _benchBuy(
        uint256 scenario,
        uint256 ancestors,
        bool funded,
        bool returning,
        bool primary,
        string memory name
    ) internal {
        Samples memory samples;
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
            }
            if (returning) _mintBy(buyer);
            uint256 id = _mintBy(creator, parents);
            if (primary) {
                seller = creator;
            } else {
                vm.prank(creator);
                nft.transferFrom(creator, seller, id);
            }
            uint256 listingId = _list(seller, id, PRICE);
            _send(samples, i, buyer, address(market), PRICE, abi.encodeCall(market.buy, (id, listingId)));
            require(nft.ownerOf(id) == buyer, "bench: the sale did not happen");
        }
        _record(name, samples);
    }
}
