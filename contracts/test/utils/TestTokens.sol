// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @notice A plain OpenZeppelin ERC-721 with an open counter mint: the gas baseline of the benchmark
///         and a second token contract for account tests.
contract PlainERC721 is ERC721 {
    uint256 private _nextTokenId = 1;

    constructor() ERC721("Plain", "PLAIN") {}

    function mint(address to) external returns (uint256 tokenId) {
        tokenId = _nextTokenId++;
        _mint(to, tokenId);
    }
}

/// @notice A plain OpenZeppelin ERC-1155 with an open mint.
contract PlainERC1155 is ERC1155 {
    constructor() ERC1155("") {}

    function mint(address to, uint256 id, uint256 amount) external {
        _mint(to, id, amount, "");
    }
}

/// @notice An ERC-20 with an open mint and a Permit2-style signed approval: the signed message names
///         the spender, amount, nonce and deadline but not the owner, and contract owners are checked
///         through ERC-1271 (as Permit2, USDC and DAI-style permits do). The attack tests use it to
///         drain a token-bound account by signature and to replay one signature across accounts.
contract PermitERC20 is ERC20 {
    bytes32 public constant PERMIT_TYPEHASH =
        keccak256("Permit(address spender,uint256 value,uint256 nonce,uint256 deadline)");
    mapping(address owner => uint256) public nonces;

    constructor() ERC20("Permit", "PRMT") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice The digest `owner` signs (through ERC-1271 if it is a contract).
    function permitDigest(address spender, uint256 value, uint256 nonce, uint256 deadline)
        public
        view
        returns (bytes32)
    {
        bytes32 domain = keccak256(abi.encode(keccak256("PermitERC20"), block.chainid, address(this)));
        return keccak256(
            abi.encodePacked(
                "\x19\x01", domain, keccak256(abi.encode(PERMIT_TYPEHASH, spender, value, nonce, deadline))
            )
        );
    }

    function permit(address owner, address spender, uint256 value, uint256 deadline, bytes calldata signature)
        external
    {
        require(block.timestamp <= deadline, "expired");
        bytes32 digest = permitDigest(spender, value, nonces[owner]++, deadline);
        require(SignatureChecker.isValidSignatureNow(owner, digest, signature), "bad signature");
        _approve(owner, spender, value);
    }
}

/// @notice Sends its ETH to `target` by SELFDESTRUCT in its constructor: ETH no receive function can refuse.
contract ForceSend {
    constructor(address payable target) payable {
        selfdestruct(target);
    }
}
