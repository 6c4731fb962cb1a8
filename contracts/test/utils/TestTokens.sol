// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

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
