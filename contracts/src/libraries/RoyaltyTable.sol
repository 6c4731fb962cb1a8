// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @dev Storage words per royalty table: ceil(RoyaltyTable.MAX_ENTRIES / 3). File-level so that it can
///      size a storage array.
uint256 constant ROYALTY_TABLE_WORDS = 6;

/// @title RoyaltyTable
/// @notice A token's bounded list of (ancestor token, share in basis points), built once at mint from
///         its parents' tables and read at every sale, so a sale never walks the provenance graph.
/// @dev Order: share descending, then token id ascending (older first). Storage: three 80-bit entries
///      (`tokenId << 16 | bps`, token ids below 2^64) per 256-bit word, `WORDS` words per token, the
///      entry count kept by the caller. The builder keeps at most `MAX_ENTRIES` distinct ids; offering
///      an id that is already present keeps the larger share (diamonds are paid once).
library RoyaltyTable {
    /// @notice Most entries a table holds.
    uint256 internal constant MAX_ENTRIES = 16;

    uint256 private constant ENTRIES_PER_WORD = 3;
    uint256 private constant ENTRY_BITS = 80;
    // forge-lint: disable-next-line(incorrect-shift)
    uint256 private constant ENTRY_MASK = (1 << ENTRY_BITS) - 1;
    uint256 private constant SHARE_BITS = 16;
    // forge-lint: disable-next-line(incorrect-shift)
    uint256 private constant SHARE_MASK = (1 << SHARE_BITS) - 1;

    /// @notice A table under construction, kept sorted.
    struct Builder {
        uint256[] ids;
        uint256[] shares;
        uint256 length;
    }

    /// @notice An empty builder with room for `MAX_ENTRIES` entries.
    function create() internal pure returns (Builder memory b) {
        b.ids = new uint256[](MAX_ENTRIES);
        b.shares = new uint256[](MAX_ENTRIES);
    }

    /// @notice Offers (`id`, `share`): kept if it ranks among the best `MAX_ENTRIES` distinct ids.
    function offer(Builder memory b, uint256 id, uint256 share) internal pure {
        uint256 len = b.length;
        for (uint256 i; i < len; ++i) {
            if (b.ids[i] == id) {
                if (b.shares[i] >= share) return;
                for (uint256 j = i; j + 1 < len; ++j) {
                    b.ids[j] = b.ids[j + 1];
                    b.shares[j] = b.shares[j + 1];
                }
                --len;
                break;
            }
        }
        uint256 pos = len;
        for (uint256 i; i < len; ++i) {
            if (share > b.shares[i] || (share == b.shares[i] && id < b.ids[i])) {
                pos = i;
                break;
            }
        }
        if (pos == MAX_ENTRIES) {
            b.length = len;
            return;
        }
        uint256 last = len == MAX_ENTRIES ? MAX_ENTRIES - 1 : len;
        for (uint256 j = last; j > pos; --j) {
            b.ids[j] = b.ids[j - 1];
            b.shares[j] = b.shares[j - 1];
        }
        b.ids[pos] = id;
        b.shares[pos] = share;
        b.length = len == MAX_ENTRIES ? MAX_ENTRIES : len + 1;
    }

    /// @notice Writes the builder's entries into `words`; returns the entry count.
    function store(uint256[ROYALTY_TABLE_WORDS] storage words, Builder memory b) internal returns (uint256 length) {
        length = b.length;
        uint256 word = 0;
        for (uint256 i; i < length; ++i) {
            uint256 entry = (b.ids[i] << SHARE_BITS) | b.shares[i];
            word |= entry << ((i % ENTRIES_PER_WORD) * ENTRY_BITS);
            if (i % ENTRIES_PER_WORD == ENTRIES_PER_WORD - 1 || i + 1 == length) {
                words[i / ENTRIES_PER_WORD] = word;
                word = 0;
            }
        }
    }

    /// @notice Reads `length` entries from `words`.
    function load(uint256[ROYALTY_TABLE_WORDS] storage words, uint256 length)
        internal
        view
        returns (uint256[] memory ids, uint16[] memory shares)
    {
        ids = new uint256[](length);
        shares = new uint16[](length);
        uint256 word = 0;
        for (uint256 i; i < length; ++i) {
            if (i % ENTRIES_PER_WORD == 0) word = words[i / ENTRIES_PER_WORD];
            uint256 entry = (word >> ((i % ENTRIES_PER_WORD) * ENTRY_BITS)) & ENTRY_MASK;
            ids[i] = entry >> SHARE_BITS;
            // forge-lint: disable-next-line(unsafe-typecast)
            shares[i] = uint16(entry & SHARE_MASK); // masked to 16 bits
        }
    }

    /// @notice Copies the words that hold `length` entries; the others stay zero and are not read.
    function copy(uint256[ROYALTY_TABLE_WORDS] storage words, uint256 length)
        internal
        view
        returns (uint256[ROYALTY_TABLE_WORDS] memory out)
    {
        uint256 used = (length + ENTRIES_PER_WORD - 1) / ENTRIES_PER_WORD;
        for (uint256 w; w < used; ++w) {
            out[w] = words[w];
        }
    }

    /// @notice Entry `i` of a copied table: its token id and share in basis points.
    function entryAt(uint256[ROYALTY_TABLE_WORDS] memory words, uint256 i)
        internal
        pure
        returns (uint256 id, uint256 share)
    {
        uint256 entry = (words[i / ENTRIES_PER_WORD] >> ((i % ENTRIES_PER_WORD) * ENTRY_BITS)) & ENTRY_MASK;
        return (entry >> SHARE_BITS, entry & SHARE_MASK);
    }

    /// @notice The share in basis points of entry `i` of a copied table.
    function shareAt(uint256[ROYALTY_TABLE_WORDS] memory words, uint256 i) internal pure returns (uint256 share) {
        return (words[i / ENTRIES_PER_WORD] >> ((i % ENTRIES_PER_WORD) * ENTRY_BITS)) & SHARE_MASK;
    }
}
