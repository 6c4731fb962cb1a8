// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {VM} from "./Vm.sol";

/// @title AccountSig
/// @notice What a MemoryAccount holder's wallet signs for ERC-1271 (ERC-7739 `PersonalSign`, Solady's
///         ERC1271): `hash` nested in the account's own EIP-712 domain, so the signature is valid for that
///         account only. A plain signature of `hash` is not valid for any account.
library AccountSig {
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant PERSONAL_SIGN_TYPEHASH = keccak256("PersonalSign(bytes prefixed)");

    /// @notice The 65-byte signature by `key` of `hash` for the account at `account` on this chain.
    function personalSign(uint256 key, address account, bytes32 hash) internal view returns (bytes memory) {
        bytes32 domain =
            keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256("MemoryAccount"), keccak256("1"), block.chainid, account));
        bytes32 structHash = keccak256(abi.encode(PERSONAL_SIGN_TYPEHASH, hash));
        (uint8 v, bytes32 r, bytes32 s) = VM.sign(key, keccak256(abi.encodePacked("\x19\x01", domain, structHash)));
        return abi.encodePacked(r, s, v);
    }
}
