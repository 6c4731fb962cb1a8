// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC6551Account} from "./interfaces/IERC6551.sol";
import {IMemoryMarket} from "./interfaces/IMemoryMarket.sol";
import {IMemoryNFT} from "./interfaces/IMemoryNFT.sol";
import {ROYALTY_TABLE_WORDS, RoyaltyTable} from "./libraries/RoyaltyTable.sol";
import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC2981} from "@openzeppelin/contracts/interfaces/IERC2981.sol";
import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {Base64} from "@openzeppelin/contracts/utils/Base64.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {LibERC6551} from "solady/accounts/LibERC6551.sol";

/// @title MemoryNFT
/// @notice AI memory artifacts (W-Matrices, KV-caches) as ERC-721 tokens. Minting is permissionless and
///         records the artifact's content checksum (one token per checksum), its models, version, URI,
///         the creator's ERC-2981 royalty and its parents (provenance). At mint the token's royalty table
///         over its ancestors is computed from its parents' tables and stored, so a sale reads a bounded
///         list instead of walking the graph. Certifiers (set by the owner) sign EIP-712 quality
///         certificates that name the artifact's checksum and creator; anyone can anchor one to the token
///         with that checksum and creator. Minting is commit-reveal (`commitMint`, then `mint` a block
///         later), so a pending mint cannot be copied in front of its author. Every transfer bumps the
///         token's `transferCountOf`, which kills the market listings made before it; while the market
///         has a live listing of a token, the token's account is locked (`accountLocked`).
/// @dev Rules and their reasoning: docs/contracts.md. Every token has an ERC-6551 account at
///      `accountOf(tokenId)` (canonical registry, salt 0, `accountImplementation`), created on demand.
contract MemoryNFT is IMemoryNFT, IERC2981, ERC721, EIP712, Ownable2Step {
    using RoyaltyTable for RoyaltyTable.Builder;
    using Strings for uint256;

    /// @notice Highest royalty a creator can take on sales of their own token (10%).
    uint96 public constant MAX_ROYALTY_BPS = 1000;
    /// @notice Most parents a token can name.
    uint256 public constant MAX_PARENTS = 8;
    /// @notice Most entries in a token's royalty table (ancestors paid at a sale).
    uint256 public constant MAX_ANCESTORS = RoyaltyTable.MAX_ENTRIES;
    /// @notice Share of every sale price that goes to each direct parent (1%). An ancestor inherited
    ///         through a parent's table gets half the share it has in that parent's table.
    uint16 public constant PARENT_SHARE_BPS = 100;
    /// @notice Upper bound of a table's total share: MAX_PARENTS * 100 + (MAX_ANCESTORS - MAX_PARENTS) * 50.
    uint256 public constant MAX_ANCESTOR_SHARE_BPS = 1200;
    /// @notice The canonical ERC-6551 registry.
    address public constant ERC6551_REGISTRY = LibERC6551.REGISTRY;
    /// @notice EIP-712 type hash of `Certificate`.
    bytes32 public constant CERTIFICATE_TYPEHASH = keccak256(
        "Certificate(bytes32 checksum,address creator,address certifier,bytes32 testSetChecksum,uint32 epsilonPpm,"
        "uint32 relErrorPpm,int32 cosinePpm,uint64 euclideanPpm,uint32 testSamples,uint8 level,uint64 issuedAt,"
        "uint64 expiresAt,uint256 nonce)"
    );
    /// @notice How long after its block a mint commitment can be revealed.
    uint256 public constant COMMIT_REVEAL_WINDOW = 1 days;
    /// @notice How many token-bound owners above a recipient the transfer's cycle check follows.
    uint256 public constant MAX_OWNERSHIP_DEPTH = 16;

    /// @notice The ERC-6551 account implementation every token's account uses.
    address public immutable accountImplementation;

    /// @dev What mint records; slot 0 packs the small fields, including the transfer counter that every
    ///      transfer bumps (the market reads slot 0 at a sale anyway, so a buy pays one warm write).
    struct Record {
        address creator;
        uint16 royaltyBps;
        MemoryKind kind;
        uint8 parentCount;
        uint8 ancestorCount;
        uint32 transferCount;
        bytes32 checksum;
        string sourceModel;
        string targetModel;
        string version;
        string uri;
    }

    /// @dev An anchored certificate, by EIP-712 digest (which includes the certifier).
    struct Anchored {
        address certifier;
        uint64 tokenId;
        bool revoked;
        uint64 expiresAt;
    }

    /// @dev 64 bits: token ids are packed as 64-bit values in royalty tables (checked increment).
    uint64 private _nextTokenId = 1;
    mapping(uint256 tokenId => Record) private _records;
    mapping(uint256 tokenId => uint256[ROYALTY_TABLE_WORDS]) private _tables;
    mapping(bytes32 checksum => uint256 tokenId) private _tokenOfChecksum;
    mapping(address certifier => bool) private _certifiers;
    mapping(bytes32 digest => Anchored) private _certificates;
    /// @dev Live mint commitments: `committedAt << 64 | committedBlock`.
    mapping(bytes32 commitment => uint256) private _commitments;
    /// @dev The market whose live listings lock token-bound accounts; set once by the owner.
    address private _market;

    /// @param accountImplementation_ The MemoryAccount implementation used for token-bound accounts.
    /// @param initialOwner The admin that manages certifiers (two-step ownership transfer).
    constructor(address accountImplementation_, address initialOwner)
        ERC721("Memory", "MEMORY")
        EIP712("MemoryNFT", "1")
        Ownable(initialOwner)
    {
        if (accountImplementation_ == address(0)) revert ZeroAddress();
        accountImplementation = accountImplementation_;
    }

    // ---------------------------------------------------------------- minting

    /// @notice The commitment `commitMint` takes for minting `checksum` as `creator`: it hides the checksum
    ///         until the reveal, and binds the creator, so nobody else can reveal it.
    function mintCommitment(bytes32 checksum, address creator, bytes32 salt) public pure returns (bytes32) {
        return keccak256(abi.encode(checksum, creator, salt));
    }

    /// @notice Commits to a mint (step 1 of 2): `commitment = mintCommitment(checksum, creator, salt)`. The
    ///         creator reveals it with `mint` from the next block on and within COMMIT_REVEAL_WINDOW.
    function commitMint(bytes32 commitment) external {
        uint256 c = _commitments[commitment];
        // The window is hours long; seconds of validator drift do not matter.
        // forge-lint: disable-next-line(block-timestamp)
        if (c != 0 && block.timestamp <= (c >> 64) + COMMIT_REVEAL_WINDOW) revert CommitmentLive(commitment, c >> 64);
        _commitments[commitment] = (block.timestamp << 64) | block.number;
        emit MintCommitted(commitment, msg.sender);
    }

    /// @notice When `commitment` was made (0, 0 if it is unknown or revealed).
    function commitmentOf(bytes32 commitment) external view returns (uint256 committedBlock, uint256 committedAt) {
        uint256 c = _commitments[commitment];
        // The low 64 bits hold the block number (see `commitMint`): masking, not truncating a value.
        // forge-lint: disable-next-line(unsafe-typecast)
        return (uint64(c), c >> 64);
    }

    /// @notice Mints a memory token to `p.to` (step 2 of 2: reveals `commitMint(mintCommitment(p.checksum,
    ///         msg.sender, p.salt))`); `msg.sender` is recorded as its creator.
    /// @return tokenId The new token's id (ids start at 1 and increase by one).
    function mint(MintParams calldata p) external returns (uint256 tokenId) {
        if (p.to == address(0)) revert ZeroAddress();
        if (p.checksum == bytes32(0)) revert ZeroChecksum();
        uint256 existing = _tokenOfChecksum[p.checksum];
        if (existing != 0) revert ChecksumAlreadyMinted(p.checksum, existing);
        _reveal(mintCommitment(p.checksum, msg.sender, p.salt));
        if (p.royaltyBps > MAX_ROYALTY_BPS) revert RoyaltyTooHigh(p.royaltyBps, MAX_ROYALTY_BPS);
        if (p.parents.length > MAX_PARENTS) revert TooManyParents(p.parents.length, MAX_PARENTS);

        tokenId = _nextTokenId++;

        Record storage r = _records[tokenId];
        r.creator = msg.sender;
        r.royaltyBps = uint16(p.royaltyBps);
        r.kind = p.kind;
        r.parentCount = uint8(p.parents.length);
        r.checksum = p.checksum;
        r.sourceModel = p.sourceModel;
        r.targetModel = p.targetModel;
        r.version = p.version;
        if (bytes(p.uri).length != 0) r.uri = p.uri;
        if (p.parents.length != 0) r.ancestorCount = uint8(_buildTable(tokenId, p.parents));
        _tokenOfChecksum[p.checksum] = tokenId;

        _mint(p.to, tokenId);
        _emitMinted(tokenId, p);

        if (p.createAccount) {
            // The account's address is `accountOf(tokenId)`; the registry's ERC6551AccountCreated reports it.
            // slither-disable-next-line unused-return
            LibERC6551.createAccount(accountImplementation, bytes32(0), block.chainid, address(this), tokenId);
        }
    }

    /// @dev Consumes a commitment made in an earlier block and within the window.
    function _reveal(bytes32 commitment) private {
        uint256 c = _commitments[commitment];
        // Zero is "no commitment": a stored one always holds a non-zero block number.
        // slither-disable-next-line incorrect-equality
        if (c == 0) revert UnknownCommitment(commitment);
        // The low 64 bits hold the block number (see `commitMint`).
        // forge-lint: disable-next-line(unsafe-typecast)
        uint256 committedBlock = uint64(c);
        if (block.number <= committedBlock) revert CommitmentTooNew(commitment, committedBlock + 1);
        uint256 end = (c >> 64) + COMMIT_REVEAL_WINDOW;
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp > end) revert CommitmentExpired(commitment, end);
        delete _commitments[commitment];
    }

    /// @dev Separate frame with memory copies: the event has more fields than the stack can address.
    function _emitMinted(uint256 tokenId, MintParams memory p) private {
        emit MemoryMinted(
            tokenId,
            msg.sender,
            p.checksum,
            p.kind,
            p.sourceModel,
            p.targetModel,
            p.version,
            p.uri,
            p.royaltyBps,
            p.parents
        );
    }

    /// @dev Validates `parents` (existing, unique) and stores the token's royalty table:
    ///      each parent at PARENT_SHARE_BPS, each entry of a parent's table at half its share there
    ///      (zero shares dropped), an ancestor reached several ways at its largest share, the best
    ///      MAX_ANCESTORS entries kept. Bounded: at most MAX_PARENTS * (1 + MAX_ANCESTORS) offers.
    function _buildTable(uint256 tokenId, uint256[] calldata parents) private returns (uint256) {
        RoyaltyTable.Builder memory b = RoyaltyTable.create();
        for (uint256 i; i < parents.length; ++i) {
            uint256 parent = parents[i];
            if (parent == 0 || parent >= tokenId) revert UnknownParent(parent);
            for (uint256 j; j < i; ++j) {
                if (parents[j] == parent) revert DuplicateParent(parent);
            }
            b.offer(parent, PARENT_SHARE_BPS);
        }
        for (uint256 i; i < parents.length; ++i) {
            uint256 parent = parents[i];
            (uint256[] memory ids, uint16[] memory shares) =
                RoyaltyTable.load(_tables[parent], _records[parent].ancestorCount);
            for (uint256 j; j < ids.length; ++j) {
                uint256 inherited = shares[j] / 2;
                if (inherited == 0) break; // sorted by share: the rest is zero too
                b.offer(ids[j], inherited);
            }
        }
        return RoyaltyTable.store(_tables[tokenId], b);
    }

    // ---------------------------------------------------------------- certificates

    /// @notice Allows or disallows `certifier` to sign certificates. Owner only.
    function setCertifier(address certifier, bool allowed) external onlyOwner {
        if (certifier == address(0)) revert ZeroAddress();
        _certifiers[certifier] = allowed;
        emit CertifierSet(certifier, allowed);
    }

    /// @notice Anchors `cert` to `tokenId`, signed by `cert.certifier`: an EOA (65-byte r, s, v ECDSA
    ///         signature, low s, v 27 or 28) or an ERC-1271 contract.
    /// @return digest The certificate's EIP-712 digest, its id from now on.
    function anchorCertificate(uint256 tokenId, Certificate calldata cert, bytes calldata signature)
        external
        returns (bytes32 digest)
    {
        digest = _checkCertificate(tokenId, cert);
        address certifier = cert.certifier;
        if (!_certifiers[certifier]) revert NotCertifier(certifier);
        if (!SignatureChecker.isValidSignatureNowCalldata(certifier, digest, signature)) revert InvalidSignature();
        _anchor(tokenId, digest, certifier, cert);
    }

    /// @notice Revokes an anchored certificate. Only the certifier that signed it can.
    function revokeCertificate(bytes32 digest) external {
        Anchored storage a = _certificates[digest];
        address certifier = a.certifier;
        if (certifier == address(0)) revert UnknownCertificate(digest);
        if (msg.sender != certifier) revert NotCertificateCertifier(msg.sender, certifier);
        if (a.revoked) revert CertificateAlreadyRevoked(digest);
        a.revoked = true;
        emit CertificateRevoked(a.tokenId, digest, certifier);
    }

    /// @notice The EIP-712 digest of `cert` under this contract's domain (what a certifier signs).
    function hashCertificate(Certificate calldata cert) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(CERTIFICATE_TYPEHASH, cert)));
    }

    /// @dev Checks that do not depend on the signature; returns the digest.
    function _checkCertificate(uint256 tokenId, Certificate calldata cert) private view returns (bytes32 digest) {
        Record storage r = _recordOf(tokenId);
        bytes32 tokenChecksum = r.checksum;
        if (cert.checksum != tokenChecksum) revert CertificateChecksumMismatch(cert.checksum, tokenChecksum);
        if (cert.creator != r.creator) revert CertificateCreatorMismatch(cert.creator, r.creator);
        if (cert.level == 0 || cert.level > 4) revert CertificateInvalidLevel(cert.level);
        if (cert.issuedAt >= cert.expiresAt) revert CertificateInvalidWindow(cert.issuedAt, cert.expiresAt);
        // Expiry is coarse (days to years); a validator nudging the timestamp by seconds is harmless.
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp > cert.expiresAt) revert CertificateExpired(cert.expiresAt);
        // forge-lint: disable-next-line(block-timestamp)
        if (cert.issuedAt > block.timestamp) revert CertificateNotYetIssued(cert.issuedAt);
        digest = hashCertificate(cert);
        if (_certificates[digest].certifier != address(0)) revert CertificateAlreadyAnchored(digest);
    }

    function _anchor(uint256 tokenId, bytes32 digest, address certifier, Certificate calldata cert) private {
        _certificates[digest] = Anchored({
            certifier: certifier,
            // Token ids are below 2^64 (`_nextTokenId` is a uint64 with a checked increment).
            // forge-lint: disable-next-line(unsafe-typecast)
            tokenId: uint64(tokenId),
            revoked: false,
            expiresAt: cert.expiresAt
        });
        emit CertificateAnchored(tokenId, digest, certifier, cert);
    }

    // ---------------------------------------------------------------- views

    /// @notice The fields recorded at mint.
    function memoryOf(uint256 tokenId) external view returns (MemoryInfo memory info) {
        Record storage r = _recordOf(tokenId);
        info.creator = r.creator;
        info.checksum = r.checksum;
        info.kind = r.kind;
        info.sourceModel = r.sourceModel;
        info.targetModel = r.targetModel;
        info.version = r.version;
        info.uri = r.uri;
        info.royaltyBps = r.royaltyBps;
        info.parents = parentsOf(tokenId);
    }

    /// @notice The token's parents, in ascending id order.
    function parentsOf(uint256 tokenId) public view returns (uint256[] memory parents) {
        // Parents rank first in the table (PARENT_SHARE_BPS beats every inherited share; ties by id).
        // slither-disable-next-line unused-return
        (parents,) = RoyaltyTable.load(_tables[tokenId], _recordOf(tokenId).parentCount);
    }

    /// @notice The ancestors paid at a sale of `tokenId` and their shares of the price, in basis points.
    function royaltyTable(uint256 tokenId) external view returns (uint256[] memory tokenIds, uint16[] memory bps) {
        return RoyaltyTable.load(_tables[tokenId], _recordOf(tokenId).ancestorCount);
    }

    /// @notice What a sale of `tokenId` needs, in one call (the market's): the creator and its royalty
    ///         (as `royaltyInfo`), the transfer count, and the royalty table packed as stored — `count`
    ///         entries, three per word, each `ancestorId << 16 | bps` in 80 bits, lowest bits first
    ///         (`RoyaltyTable.entryAt` unpacks them; `royaltyTable` gives the same entries as arrays).
    function saleInfo(uint256 tokenId) external view returns (SaleInfo memory info) {
        Record storage r = _recordOf(tokenId);
        info.owner = _ownerOf(tokenId);
        info.creator = r.creator;
        info.royaltyBps = r.royaltyBps;
        info.transferCount = r.transferCount;
        info.count = r.ancestorCount;
        info.table = RoyaltyTable.copy(_tables[tokenId], info.count);
    }

    /// @notice How many times `tokenId` changed hands since its mint (a listing commits to it).
    function transferCountOf(uint256 tokenId) external view returns (uint256) {
        return _recordOf(tokenId).transferCount;
    }

    // ---------------------------------------------------------------- account lock

    /// @notice Sets the market whose live listings lock token-bound accounts. Owner only, once.
    function setMarket(address market_) external onlyOwner {
        if (market_ == address(0)) revert ZeroAddress();
        if (_market != address(0)) revert MarketAlreadySet(_market);
        _market = market_;
        emit MarketSet(market_);
    }

    /// @notice The market set by `setMarket` (zero before).
    function market() external view returns (address) {
        return _market;
    }

    /// @notice Whether the token-bound account of `tokenId` is locked: true while the market has a live
    ///         listing of the token, whose buyer was promised the account's contents (MemoryAccount asks).
    function accountLocked(uint256 tokenId) external view returns (bool) {
        address m = _market;
        return m != address(0) && IMemoryMarket(m).isListingLive(tokenId);
    }

    /// @notice Disabled: without an admin no certifier could ever be added or removed.
    function renounceOwnership() public pure override {
        revert RenounceDisabled();
    }

    /// @notice The token minted for `checksum`, or 0.
    function tokenIdOfChecksum(bytes32 checksum) external view returns (uint256) {
        return _tokenOfChecksum[checksum];
    }

    /// @notice The token's ERC-6551 account address (canonical registry, salt 0), created or not.
    function accountOf(uint256 tokenId) public view returns (address) {
        return LibERC6551.account(accountImplementation, bytes32(0), block.chainid, address(this), tokenId);
    }

    /// @notice Whether `account` may sign certificates.
    function isCertifier(address account) external view returns (bool) {
        return _certifiers[account];
    }

    /// @notice An anchored certificate's token, certifier, revocation flag and expiry (valid while
    ///         `block.timestamp <= expiresAt` and not revoked).
    function certificateOf(bytes32 digest)
        external
        view
        returns (uint256 tokenId, address certifier, bool revoked, uint64 expiresAt)
    {
        Anchored storage a = _certificates[digest];
        if (a.certifier == address(0)) revert UnknownCertificate(digest);
        return (a.tokenId, a.certifier, a.revoked, a.expiresAt);
    }

    /// @notice Number of tokens minted (no token is ever burned).
    function totalSupply() external view returns (uint256) {
        return _nextTokenId - 1;
    }

    /// @inheritdoc IERC2981
    function royaltyInfo(uint256 tokenId, uint256 salePrice) external view returns (address, uint256) {
        Record storage r = _recordOf(tokenId);
        return (r.creator, salePrice * r.royaltyBps / 10_000);
    }

    /// @notice The token's metadata: its URI if one was given, else the on-chain fields as a JSON data URI.
    function tokenURI(uint256 tokenId) public view override returns (string memory) {
        Record storage r = _recordOf(tokenId);
        if (bytes(r.uri).length != 0) return r.uri;
        return string.concat("data:application/json;base64,", Base64.encode(bytes(_json(tokenId, r))));
    }

    /// @inheritdoc IERC165
    function supportsInterface(bytes4 interfaceId) public view override(ERC721, IERC165) returns (bool) {
        return interfaceId == type(IERC2981).interfaceId || super.supportsInterface(interfaceId);
    }

    // ---------------------------------------------------------------- internals

    /// @dev Counts transfers (not the mint) and refuses to move a token into its own token-bound account,
    ///      directly or through accounts nested under it, which would lock them all for ever.
    function _update(address to, uint256 tokenId, address auth) internal override returns (address from) {
        from = super._update(to, tokenId, auth);
        if (from == address(0)) {
            // A new token owns nothing yet: only its own account could close a cycle.
            if (to == accountOf(tokenId)) revert TransferToOwnAccount(tokenId);
            return from;
        }
        ++_records[tokenId].transferCount;
        _checkNoCycle(to, tokenId);
    }

    /// @dev Follows the owners above `to` through token-bound accounts (anything answering ERC-6551
    ///      `token()` on this chain), at most MAX_OWNERSHIP_DEPTH steps, and reverts if the chain reaches
    ///      the account of `tokenId`, which now belongs to `to`. An EOA ends the walk at once.
    function _checkNoCycle(address to, uint256 tokenId) private view {
        address own = accountOf(tokenId);
        address holder = to;
        for (uint256 depth; depth < MAX_OWNERSHIP_DEPTH; ++depth) {
            if (holder == own) revert TransferToOwnAccount(tokenId);
            if (holder.code.length == 0) return;
            // The recipient chose to be an account; it pays for its own answer (a view call).
            // slither-disable-next-line calls-loop
            (bool ok, bytes memory ret) = holder.staticcall(abi.encodeCall(IERC6551Account.token, ()));
            if (!ok || ret.length < 0x60) return;
            (uint256 chainId, address tokenContract, uint256 boundId) = abi.decode(ret, (uint256, address, uint256));
            if (chainId != block.chainid || tokenContract.code.length == 0) return;
            if (tokenContract == address(this)) {
                holder = _ownerOf(boundId);
                continue;
            }
            // slither-disable-next-line calls-loop
            try IERC721(tokenContract).ownerOf(boundId) returns (address next) {
                holder = next;
            } catch {
                return;
            }
        }
        revert OwnershipChainTooDeep(MAX_OWNERSHIP_DEPTH);
    }

    /// @dev Every minted token has a creator (its minter), so the record's first word tells whether the
    ///      token exists; callers read that word anyway (counts, creator, royalty), so the check is free.
    function _recordOf(uint256 tokenId) private view returns (Record storage r) {
        r = _records[tokenId];
        if (r.creator == address(0)) revert NonexistentToken(tokenId);
    }

    function _json(uint256 tokenId, Record storage r) private view returns (string memory) {
        string memory models = string.concat(
            '","sourceModel":"',
            Strings.escapeJSON(r.sourceModel),
            '","targetModel":"',
            Strings.escapeJSON(r.targetModel),
            '","version":"',
            Strings.escapeJSON(r.version)
        );
        return string.concat(
            '{"name":"Memory #',
            tokenId.toString(),
            '","kind":"',
            _kindName(r.kind),
            '","checksum":"',
            uint256(r.checksum).toHexString(32),
            '","creator":"',
            Strings.toChecksumHexString(r.creator),
            models,
            '","royaltyBps":',
            uint256(r.royaltyBps).toString(),
            ',"parents":[',
            _joinIds(parentsOf(tokenId)),
            "]}"
        );
    }

    function _kindName(MemoryKind kind) private pure returns (string memory) {
        if (kind == MemoryKind.WMatrix) return "W-Matrix";
        if (kind == MemoryKind.KVCache) return "KV-cache";
        return "other";
    }

    function _joinIds(uint256[] memory ids) private pure returns (string memory out) {
        for (uint256 i; i < ids.length; ++i) {
            out = i == 0 ? ids[i].toString() : string.concat(out, ",", ids[i].toString());
        }
    }
}
