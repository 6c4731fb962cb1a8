// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryMarket} from "../src/MemoryMarket.sol";
import {MemoryNFT} from "../src/MemoryNFT.sol";
import {MemoryAccount} from "../src/accounts/MemoryAccount.sol";
import {VM, Vm} from "../test/utils/Vm.sol";
import {LibERC6551} from "solady/accounts/LibERC6551.sol";

/// @title Deploy
/// @notice Deploys MemoryNFT, MemoryAccount and MemoryMarket to a running chain and writes
///         anvil/deployments/<chainId>.json. Run it through scripts/deploy, which first makes sure the
///         canonical ERC-6551 registry exists (anvil_setCode on anvil).
/// @dev Environment: PRIVATE_KEY (default: anvil account 0), CERTIFIER (address to allow as certifier,
///      optional), OWNER (admin to hand the NFT to, two-step: it must call acceptOwnership; default: the
///      deployer), DEPLOYMENT_FILE (default anvil/deployments/<chainId>.json; must stay under
///      anvil/deployments, the only place foundry.toml lets scripts write). The NFT is the deployer's first contract of this run (then the account implementation,
///      whose address the NFT receives in advance, then the market): on a fresh anvil the NFT sits at
///      0x5FbDB2315678afecb367f032d93F642f64180aa3, the verifyingContract of the certificate test vector.
contract Deploy {
    Vm internal constant vm = VM;

    /// @dev Anvil's account 0 of the default "test test ... junk" mnemonic. Never use it elsewhere.
    uint256 internal constant ANVIL_KEY_0 = 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80;

    error RegistryMissing(address registry);
    error UnexpectedAddress(address expected, address actual);

    struct Deployment {
        MemoryNFT nft;
        MemoryAccount accountImplementation;
        MemoryMarket market;
        address deployer;
        address owner;
        address certifier;
        uint256 deployBlock;
    }

    function run() external returns (Deployment memory d) {
        uint256 key = vm.envOr("PRIVATE_KEY", ANVIL_KEY_0);
        d.deployer = vm.addr(key);
        d.owner = vm.envOr("OWNER", d.deployer);
        d.certifier = vm.envOr("CERTIFIER", address(0));
        if (LibERC6551.REGISTRY.code.length == 0) revert RegistryMissing(LibERC6551.REGISTRY);
        // The first block that can hold the deployment (exact on an auto-mining anvil).
        d.deployBlock = block.number + 1;

        address predictedImplementation = vm.computeCreateAddress(d.deployer, vm.getNonce(d.deployer) + 1);
        vm.startBroadcast(key);
        d.nft = new MemoryNFT(predictedImplementation, d.deployer);
        d.accountImplementation = new MemoryAccount();
        d.market = new MemoryMarket(d.nft);
        // Live listings of this market lock token-bound accounts (set once, before any listing).
        d.nft.setMarket(address(d.market));
        if (d.certifier != address(0)) d.nft.setCertifier(d.certifier, true);
        if (d.owner != d.deployer) d.nft.transferOwnership(d.owner);
        vm.stopBroadcast();
        if (address(d.accountImplementation) != predictedImplementation) {
            revert UnexpectedAddress(predictedImplementation, address(d.accountImplementation));
        }

        string memory defaultPath = string.concat("anvil/deployments/", vm.toString(block.chainid), ".json");
        vm.writeFile(vm.envOr("DEPLOYMENT_FILE", defaultPath), _json(d));
    }

    function _json(Deployment memory d) internal view returns (string memory) {
        string memory addresses = string.concat(
            '  "memoryNFT": "',
            vm.toString(address(d.nft)),
            '",\n  "memoryMarket": "',
            vm.toString(address(d.market)),
            '",\n  "memoryAccount": "',
            vm.toString(address(d.accountImplementation)),
            '",\n  "erc6551Registry": "',
            vm.toString(LibERC6551.REGISTRY),
            '",\n  "deployer": "',
            vm.toString(d.deployer),
            '",\n  "owner": "',
            vm.toString(d.owner),
            '",\n  "certifier": ',
            d.certifier == address(0) ? "null" : string.concat('"', vm.toString(d.certifier), '"'),
            ",\n"
        );
        return string.concat(
            '{\n  "chainId": ',
            vm.toString(block.chainid),
            ",\n",
            addresses,
            '  "deployBlock": ',
            vm.toString(d.deployBlock),
            ',\n  "abi": {\n',
            '    "MemoryNFT": "contracts/abi/MemoryNFT.json",\n',
            '    "MemoryMarket": "contracts/abi/MemoryMarket.json",\n',
            '    "MemoryAccount": "contracts/abi/MemoryAccount.json",\n',
            '    "ERC6551Registry": "contracts/abi/ERC6551Registry.json"\n',
            "  }\n}\n"
        );
    }
}
