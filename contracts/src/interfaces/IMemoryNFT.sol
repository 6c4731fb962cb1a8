// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IMemoryNFT
/// @notice Types, events and errors of the MemoryNFT contract: AI memory artifacts
///         (W-Matrices, KV-caches) as ERC-721 tokens with a content checksum, provenance,
///         a royalty table over their ancestors and anchored EIP-712 quality certificates.
/// @dev This file is a shared definition: the indexer decodes these events and the Rust
///      protocol crate hashes `Certificate` the same way (pinned by
///      contracts/test/vectors/certificate.json). Change every side together.
interface IMemoryNFT {
    /// @notice What kind of artifact a token stands for.
    enum MemoryKind {
        WMatrix,
        KVCache,
        Other
    }

    /// @notice Arguments of `mint` (the reveal of a `commitMint`). The creator is always `msg.sender`.
    struct MintParams {
        /// Receiver of the new token.
        address to;
        /// Canonical SHA-256 content checksum of the artifact (see docs/certificates.md).
        bytes32 checksum;
        MemoryKind kind;
        /// Model the artifact maps from (e.g. "meta-llama/Llama-3.1-8B").
        string sourceModel;
        /// Model the artifact maps to.
        string targetModel;
        /// Semantic version of the artifact ("1.2.0").
        string version;
        /// Off-chain metadata URI; empty means `tokenURI` renders the on-chain fields.
        string uri;
        /// Royalty of this token's own creator, in basis points (<= MAX_ROYALTY_BPS).
        uint96 royaltyBps;
        /// Existing tokens this memory was derived from (unique, <= MAX_PARENTS).
        uint256[] parents;
        /// Also create the token's ERC-6551 account in the same transaction.
        bool createAccount;
        /// The salt of the commitment `mintCommitment(checksum, msg.sender, salt)` made by `commitMint`.
        bytes32 salt;
    }

    /// @notice What `MemoryNFT.memoryOf` returns: the fields recorded at mint.
    struct MemoryInfo {
        address creator;
        bytes32 checksum;
        MemoryKind kind;
        string sourceModel;
        string targetModel;
        string version;
        string uri;
        uint96 royaltyBps;
        /// Parents in ascending id order.
        uint256[] parents;
    }

    /// @notice What `MemoryNFT.saleInfo` returns: what the market needs at a sale, in one call.
    struct SaleInfo {
        /// The token's holder (the seller, while the listing's transfer count matches).
        address owner;
        /// Receiver of the token's own royalty (its creator).
        address creator;
        /// The creator's royalty in basis points.
        uint256 royaltyBps;
        /// How many times the token changed hands since its mint.
        uint256 transferCount;
        /// Entries in `table`.
        uint256 count;
        /// The royalty table as stored (see `MemoryNFT.saleInfo`). The length is ROYALTY_TABLE_WORDS,
        /// written as a literal because the Rust side reads this file with `sol!`, which resolves no
        /// imports; MemoryNFT assigns a `uint256[ROYALTY_TABLE_WORDS]` to it, so a mismatch fails to compile.
        uint256[6] table;
    }

    /// @notice A quality certificate, signed by a certifier as EIP-712 typed data.
    /// @dev Metric figures are integers in parts per million, rounded half-to-even
    ///      from the f64 reference computation of the protocol crate.
    struct Certificate {
        /// Content checksum of the certified artifact; must equal the token's checksum.
        bytes32 checksum;
        /// The creator the certifier attributes the artifact to; must equal the token's creator, so a
        /// certificate cannot anchor on a token somebody else minted for the same checksum.
        address creator;
        /// The certifier that signs; part of the signed struct, so two certifiers' signatures over the
        /// same figures are two certificates and neither can take the other's digest.
        address certifier;
        /// Content checksum of the test set the metrics were computed on.
        bytes32 testSetChecksum;
        /// Centred relative Frobenius error ||Ŷ−Y|| / ||Y−mean(Y)||, ppm.
        uint32 epsilonPpm;
        /// Uncentred relative error ||Ŷ−Y|| / ||Y||, ppm.
        uint32 relErrorPpm;
        /// Mean row cosine similarity, ppm (-1e6..1e6).
        int32 cosinePpm;
        /// Mean row euclidean distance, ppm.
        uint64 euclideanPpm;
        /// Number of test samples (rows of the test set).
        uint32 testSamples;
        /// Tier graded on epsilonPpm: 1 bronze, 2 silver, 3 gold, 4 platinum.
        uint8 level;
        /// Unix time the certificate was issued; a certificate issued in the future cannot be anchored.
        uint64 issuedAt;
        /// Last Unix time at which the certificate is valid (valid while `block.timestamp <= expiresAt`).
        uint64 expiresAt;
        /// Certifier-chosen nonce; a digest can be anchored only once.
        uint256 nonce;
    }

    /// @notice A new memory token was minted (follows the ERC-721 Transfer from zero).
    event MemoryMinted(
        uint256 indexed tokenId,
        address indexed creator,
        bytes32 indexed checksum,
        MemoryKind kind,
        string sourceModel,
        string targetModel,
        string version,
        string uri,
        uint96 royaltyBps,
        uint256[] parents
    );

    /// @notice A certificate was anchored to a token.
    event CertificateAnchored(
        uint256 indexed tokenId, bytes32 indexed digest, address indexed certifier, Certificate cert
    );

    /// @notice A previously anchored certificate was revoked by its certifier.
    event CertificateRevoked(uint256 indexed tokenId, bytes32 indexed digest, address indexed certifier);

    /// @notice A certifier was allowed or disallowed by the admin.
    event CertifierSet(address indexed certifier, bool allowed);

    /// @notice `committer` committed to minting the checksum hidden in `commitment` (see `mintCommitment`).
    event MintCommitted(bytes32 indexed commitment, address indexed committer);

    /// @notice The admin set the market whose live listings lock token-bound accounts (once).
    event MarketSet(address indexed market);

    /// @notice Whether the token-bound account of `tokenId` is locked (its token has a live market listing).
    function accountLocked(uint256 tokenId) external view returns (bool);

    error ZeroAddress();
    error ZeroChecksum();
    error ChecksumAlreadyMinted(bytes32 checksum, uint256 tokenId);
    error RoyaltyTooHigh(uint96 royaltyBps, uint96 maxBps);
    error TooManyParents(uint256 count, uint256 max);
    error UnknownParent(uint256 parentId);
    error DuplicateParent(uint256 parentId);
    error NonexistentToken(uint256 tokenId);
    error NotCertifier(address signer);
    /// @notice No commitment `commitment` was made (or it was already revealed).
    error UnknownCommitment(bytes32 commitment);
    /// @notice The commitment was made in this block; it can be revealed from `revealBlock` on.
    error CommitmentTooNew(bytes32 commitment, uint256 revealBlock);
    /// @notice The commitment's reveal window ended at `expiredAt`; commit again.
    error CommitmentExpired(bytes32 commitment, uint256 expiredAt);
    /// @notice The same commitment is still live (made at `committedAt`).
    error CommitmentLive(bytes32 commitment, uint256 committedAt);
    /// @notice The market was already set; it is fixed once set.
    error MarketAlreadySet(address market);
    /// @notice Renouncing the admin would leave the certifier list unmanageable for ever.
    error RenounceDisabled();
    error InvalidSignature();
    error CertificateChecksumMismatch(bytes32 certChecksum, bytes32 tokenChecksum);
    error CertificateExpired(uint64 expiresAt);
    /// @notice The certificate's `issuedAt` lies after the current block's timestamp.
    error CertificateNotYetIssued(uint64 issuedAt);
    /// @notice The certificate names another creator than the token's.
    error CertificateCreatorMismatch(address certCreator, address tokenCreator);
    error CertificateInvalidWindow(uint64 issuedAt, uint64 expiresAt);
    error CertificateInvalidLevel(uint8 level);
    error CertificateAlreadyAnchored(bytes32 digest);
    error UnknownCertificate(bytes32 digest);
    error CertificateAlreadyRevoked(bytes32 digest);
    error NotCertificateCertifier(address caller, address certifier);
    /// @notice A token cannot be transferred into its own token-bound account, directly or through
    ///         accounts nested in it (an ownership cycle would lock them all for ever).
    error TransferToOwnAccount(uint256 tokenId);
    /// @notice The chain of token-bound owners above the recipient is longer than the check follows.
    error OwnershipChainTooDeep(uint256 maxDepth);
}
