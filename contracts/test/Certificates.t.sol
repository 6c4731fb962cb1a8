// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryNFT} from "../src/MemoryNFT.sol";
import {IMemoryNFT} from "../src/interfaces/IMemoryNFT.sol";
import {AccountSig} from "./utils/AccountSig.sol";
import {BaseTest} from "./utils/BaseTest.sol";

/// @notice EIP-712 certificates: the shared vectors (the digest, and the valid and invalid cases the Rust
///         verifier is held to), anchoring, creator binding, certifier binding and revocation.
contract CertificatesTest is BaseTest {
    string internal constant VECTOR = "contracts/test/vectors/certificate.json";
    string internal constant CASES = "contracts/test/vectors/certificate-cases.json";
    /// @dev Anvil's account 0: on a fresh chain its first contract is the vectors' verifyingContract.
    address internal constant ANVIL_DEPLOYER = 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266;
    /// @dev A second certifier, allowed by the admin where a test needs one.
    uint256 internal constant CERTIFIER2_KEY = 0xC3E8;

    uint256 internal tokenId;
    bytes32 internal checksum;

    function setUp() public override {
        super.setUp();
        tokenId = _mintBy(alice);
        checksum = _checksumOf(tokenId);
    }

    // ------------------------------------------------------------------ the shared vectors

    function _vectorCert(string memory json, string memory at) internal pure returns (IMemoryNFT.Certificate memory c) {
        c.checksum = vm.parseJsonBytes32(json, string.concat(at, ".checksum"));
        c.creator = vm.parseJsonAddress(json, string.concat(at, ".creator"));
        c.certifier = vm.parseJsonAddress(json, string.concat(at, ".certifier"));
        c.testSetChecksum = vm.parseJsonBytes32(json, string.concat(at, ".testSetChecksum"));
        c.epsilonPpm = uint32(vm.parseJsonUint(json, string.concat(at, ".epsilonPpm")));
        c.relErrorPpm = uint32(vm.parseJsonUint(json, string.concat(at, ".relErrorPpm")));
        c.cosinePpm = int32(vm.parseJsonInt(json, string.concat(at, ".cosinePpm")));
        c.euclideanPpm = uint64(vm.parseJsonUint(json, string.concat(at, ".euclideanPpm")));
        c.testSamples = uint32(vm.parseJsonUint(json, string.concat(at, ".testSamples")));
        c.level = uint8(vm.parseJsonUint(json, string.concat(at, ".level")));
        c.issuedAt = uint64(vm.parseJsonUint(json, string.concat(at, ".issuedAt")));
        c.expiresAt = uint64(vm.parseJsonUint(json, string.concat(at, ".expiresAt")));
        c.nonce = vm.parseJsonUint(json, string.concat(at, ".nonce"));
    }

    function test_vector_MatchesContractAndAnchors() public {
        string memory json = vm.readFile(VECTOR);
        MemoryNFT vnft = _deployAtVectorDomain(json);
        IMemoryNFT.Certificate memory c = _vectorCert(json, ".certificate");
        _checkHashes(vnft, json, c);
        _checkAnchors(vnft, json, c);
    }

    function _deployAtVectorDomain(string memory json) internal returns (MemoryNFT vnft) {
        vm.assertEq(vm.parseJsonString(json, ".domain.name"), "MemoryNFT", "domain name");
        vm.assertEq(vm.parseJsonString(json, ".domain.version"), "1", "domain version");
        vm.chainId(vm.parseJsonUint(json, ".domain.chainId"));
        // Deploy the NFT at the vector's address the way the deploy script does on a fresh anvil.
        vm.setNonce(ANVIL_DEPLOYER, 0);
        vm.prank(ANVIL_DEPLOYER);
        vnft = new MemoryNFT(address(accountImpl), admin);
        vm.assertEq(address(vnft), vm.parseJsonAddress(json, ".domain.verifyingContract"), "verifyingContract");
        (, string memory name, string memory version, uint256 chainId, address verifying,,) = vnft.eip712Domain();
        vm.assertEq(name, "MemoryNFT", "eip712Domain name");
        vm.assertEq(version, "1", "eip712Domain version");
        vm.assertEq(chainId, 31_337, "eip712Domain chain");
        vm.assertEq(verifying, address(vnft), "eip712Domain contract");
    }

    function _checkHashes(MemoryNFT vnft, string memory json, IMemoryNFT.Certificate memory c) internal view {
        bytes32 typeHash = vnft.CERTIFICATE_TYPEHASH();
        vm.assertEq(typeHash, vm.parseJsonBytes32(json, ".typeHash"), "type hash");
        vm.assertEq(keccak256(bytes(vm.parseJsonString(json, ".typeString"))), typeHash, "type string");
        vm.assertEq(keccak256(abi.encode(typeHash, c)), vm.parseJsonBytes32(json, ".structHash"), "struct hash");
        vm.assertEq(vnft.hashCertificate(c), vm.parseJsonBytes32(json, ".digest"), "digest");
    }

    function _checkAnchors(MemoryNFT vnft, string memory json, IMemoryNFT.Certificate memory c) internal {
        bytes32 digest = vm.parseJsonBytes32(json, ".digest");
        bytes memory signature = vm.parseJsonBytes(json, ".signature");
        address signer = vm.parseJsonAddress(json, ".signer");
        vm.assertEq(vm.addr(vm.parseJsonUint(json, ".privateKey")), signer, "key -> signer");
        vm.assertEq(signer, c.certifier, "the signer is the certificate's certifier");
        vm.assertEq(signature.length, 65, "r|s|v");

        // A token with the vector's checksum, minted by the vector's creator; the vector's signer certifies.
        vm.prank(admin);
        vnft.setCertifier(signer, true);
        nft = vnft;
        uint256 id = _mintWith(c.creator, _params(c.creator, c.checksum, new uint256[](0)));
        vm.warp(c.issuedAt + 1);
        vm.expectEmit(address(vnft));
        emit IMemoryNFT.CertificateAnchored(id, digest, signer, c);
        vm.assertEq(vnft.anchorCertificate(id, c, signature), digest, "anchored digest");
        (uint256 anchoredToken, address by, bool revoked, uint64 expiresAt) = vnft.certificateOf(digest);
        vm.assertEq(anchoredToken, id, "token");
        vm.assertEq(by, signer, "certifier");
        vm.assertFalse(revoked, "not revoked");
        vm.assertEq(expiresAt, c.expiresAt, "expiresAt");
    }

    /// @dev Every case of certificate-cases.json gets the outcome the file states (the Rust verifier is held to
    ///      the same file): on a fresh MemoryNFT at the vectors' domain, `certificate.checksum` is minted by
    ///      `tokenCreator`, time is `now`, and `anchorCertificate` either anchors or reverts with `expect`.
    function test_vectorCases_GetTheStatedOutcome() public {
        string memory json = vm.readFile(CASES);
        MemoryNFT vnft = _deployAtVectorDomain(json);
        vm.prank(admin);
        vnft.setCertifier(vm.addr(vm.parseJsonUint(json, ".privateKeys.certifier")), true);
        nft = vnft;
        uint256 fresh = vm.snapshotState();
        uint256 n;
        for (; vm.keyExistsJson(json, string.concat(".cases[", vm.toString(n), "]")); ++n) {
            vm.revertToState(fresh);
            _runCase(vnft, json, string.concat(".cases[", vm.toString(n), "]"));
        }
        vm.assertGe(n, 20, "every case ran");
    }

    function _runCase(MemoryNFT vnft, string memory json, string memory at) internal {
        string memory name = vm.parseJsonString(json, string.concat(at, ".name"));
        string memory expect = vm.parseJsonString(json, string.concat(at, ".expect"));
        IMemoryNFT.Certificate memory c = _vectorCert(json, string.concat(at, ".certificate"));
        bytes32 digest = vm.parseJsonBytes32(json, string.concat(at, ".digest"));
        bytes memory signature = vm.parseJsonBytes(json, string.concat(at, ".signature"));
        address tokenCreator = vm.parseJsonAddress(json, string.concat(at, ".tokenCreator"));
        vm.assertEq(vnft.hashCertificate(c), digest, string.concat(name, ": digest"));

        uint256 id = _mintWith(tokenCreator, _params(tokenCreator, c.checksum, new uint256[](0)));
        vm.warp(vm.parseJsonUint(json, string.concat(at, ".now")));
        try vnft.anchorCertificate(id, c, signature) returns (bytes32 anchored) {
            vm.assertEq(expect, "valid", string.concat(name, ": anchored"));
            vm.assertEq(anchored, digest, string.concat(name, ": anchored digest"));
            (uint256 t, address by,, uint64 expiresAt) = vnft.certificateOf(digest);
            vm.assertEq(t, id, string.concat(name, ": token"));
            vm.assertEq(by, c.certifier, string.concat(name, ": certifier"));
            vm.assertEq(expiresAt, c.expiresAt, string.concat(name, ": expiresAt"));
        } catch (bytes memory reason) {
            vm.assertEq(reason, _expectedRevert(expect, c, tokenCreator), string.concat(name, ": revert"));
        }
    }

    /// @dev The revert data of the error named `expect`, with the arguments the contract gives it.
    function _expectedRevert(string memory expect, IMemoryNFT.Certificate memory c, address tokenCreator)
        internal
        pure
        returns (bytes memory)
    {
        bytes32 e = keccak256(bytes(expect));
        if (e == keccak256("InvalidSignature")) return abi.encodeWithSelector(IMemoryNFT.InvalidSignature.selector);
        if (e == keccak256("CertificateInvalidWindow")) {
            return abi.encodeWithSelector(IMemoryNFT.CertificateInvalidWindow.selector, c.issuedAt, c.expiresAt);
        }
        if (e == keccak256("CertificateNotYetIssued")) {
            return abi.encodeWithSelector(IMemoryNFT.CertificateNotYetIssued.selector, c.issuedAt);
        }
        if (e == keccak256("CertificateExpired")) {
            return abi.encodeWithSelector(IMemoryNFT.CertificateExpired.selector, c.expiresAt);
        }
        if (e == keccak256("CertificateInvalidLevel")) {
            return abi.encodeWithSelector(IMemoryNFT.CertificateInvalidLevel.selector, c.level);
        }
        if (e == keccak256("CertificateCreatorMismatch")) {
            return abi.encodeWithSelector(IMemoryNFT.CertificateCreatorMismatch.selector, c.creator, tokenCreator);
        }
        // `valid` lands here too: a case that should anchor but reverted fails on this marker.
        return bytes(string.concat("expected: ", expect));
    }

    // ------------------------------------------------------------------ hashing

    function test_hashCertificate_IsEip712Digest() public view {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("MemoryNFT"),
                keccak256("1"),
                block.chainid,
                address(nft)
            )
        );
        bytes32 structHash = keccak256(abi.encode(nft.CERTIFICATE_TYPEHASH(), c));
        vm.assertEq(
            nft.hashCertificate(c), keccak256(abi.encodePacked(hex"1901", domain, structHash)), "EIP-712 digest"
        );
    }

    function testFuzz_hashCertificate_BindsEveryField(uint256 field, uint256 value) public view {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes32 before = nft.hashCertificate(c);
        field %= 13;
        value = value == 0 ? 1 : value;
        if (field == 0) c.checksum ^= bytes32(value);
        else if (field == 1) c.creator = address(uint160(c.creator) ^ uint160(value | 1));
        else if (field == 2) c.certifier = address(uint160(c.certifier) ^ uint160(value | 1));
        else if (field == 3) c.testSetChecksum ^= bytes32(value);
        else if (field == 4) c.epsilonPpm ^= uint32(value | 1);
        else if (field == 5) c.relErrorPpm ^= uint32(value | 1);
        else if (field == 6) c.cosinePpm ^= int32(uint32(value | 1));
        else if (field == 7) c.euclideanPpm ^= uint64(value | 1);
        else if (field == 8) c.testSamples ^= uint32(value | 1);
        else if (field == 9) c.level ^= uint8(value | 1);
        else if (field == 10) c.issuedAt ^= uint64(value | 1);
        else if (field == 11) c.expiresAt ^= uint64(value | 1);
        else c.nonce ^= value;
        vm.assertTrue(nft.hashCertificate(c) != before, "every field is signed");
    }

    // ------------------------------------------------------------------ anchoring

    function test_anchorCertificate_ByCertifier() public {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes32 digest = nft.hashCertificate(c);
        vm.expectEmit(address(nft));
        emit IMemoryNFT.CertificateAnchored(tokenId, digest, certifier, c);
        vm.prank(carol); // anyone can relay a certifier's signature
        vm.assertEq(nft.anchorCertificate(tokenId, c, _sign(CERTIFIER_KEY, digest)), digest, "digest");
        (uint256 t, address by, bool revoked, uint64 expiresAt) = nft.certificateOf(digest);
        vm.assertEq(t, tokenId, "token");
        vm.assertEq(by, certifier, "certifier");
        vm.assertFalse(revoked, "live");
        vm.assertEq(expiresAt, c.expiresAt, "certificateOf returns expiresAt");
    }

    /// @dev Only 65-byte (r, s, v) signatures: OpenZeppelin 5 dropped EIP-2098 compact ones.
    function test_RevertWhen_AnchorCompactSignature() public {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(CERTIFIER_KEY, nft.hashCertificate(c));
        bytes32 vs = bytes32(uint256(v - 27) << 255) | s;
        vm.expectRevert(IMemoryNFT.InvalidSignature.selector);
        nft.anchorCertificate(tokenId, c, abi.encodePacked(r, vs));
    }

    /// @dev An ERC-1271 certifier: a token-bound MemoryAccount whose holder (alice) signs.
    function test_anchorCertificate_Erc1271Certifier() public {
        IMemoryNFT.MintParams memory p = _params(alice, keccak256("certifier account"), new uint256[](0));
        p.createAccount = true;
        uint256 badge = _mintWith(alice, p);
        address wallet = nft.accountOf(badge);
        vm.prank(admin);
        nft.setCertifier(wallet, true);

        IMemoryNFT.Certificate memory c = _cert(checksum);
        c.certifier = wallet;
        bytes32 digest = nft.hashCertificate(c);
        // A plain signature of the digest by the holder is not the account's.
        vm.expectRevert(IMemoryNFT.InvalidSignature.selector);
        nft.anchorCertificate(tokenId, c, _sign(ALICE_KEY, digest));
        nft.anchorCertificate(tokenId, c, AccountSig.personalSign(ALICE_KEY, wallet, digest));
        (, address by,,) = nft.certificateOf(digest);
        vm.assertEq(by, wallet, "contract certifier");

        // The contract's holder changes: alice's signature no longer speaks for it.
        c.nonce = 2;
        digest = nft.hashCertificate(c);
        bytes memory aliceSig = AccountSig.personalSign(ALICE_KEY, wallet, digest);
        vm.prank(alice);
        nft.transferFrom(alice, bob, badge);
        vm.expectRevert(IMemoryNFT.InvalidSignature.selector);
        nft.anchorCertificate(tokenId, c, aliceSig);
    }

    function test_RevertWhen_AnchorForUnknownToken() public {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes memory sig = _sign(CERTIFIER_KEY, nft.hashCertificate(c));
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NonexistentToken.selector, 99));
        nft.anchorCertificate(99, c, sig);
    }

    function test_RevertWhen_AnchorForAnotherChecksum() public {
        uint256 other = _mintBy(alice);
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes memory sig = _sign(CERTIFIER_KEY, nft.hashCertificate(c));
        vm.expectRevert(
            abi.encodeWithSelector(IMemoryNFT.CertificateChecksumMismatch.selector, checksum, _checksumOf(other))
        );
        nft.anchorCertificate(other, c, sig);
    }

    /// @dev The checksum front-running attack: bob sees alice's certificate (its file, or her anchoring
    ///      transaction in the mempool), learns the checksum and mints it first. The certificate names alice as
    ///      creator, so it cannot dress bob's token; a certificate naming bob only the certifier can sign.
    function test_RevertWhen_CertificateAnchoredOnFrontRunnersToken() public {
        bytes32 stolen = _nextChecksum();
        IMemoryNFT.Certificate memory c = _cert(stolen, alice);
        bytes memory sig = _sign(CERTIFIER_KEY, nft.hashCertificate(c));
        uint256 bobs = _mintWith(bob, _params(bob, stolen, new uint256[](0)));
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.CertificateCreatorMismatch.selector, alice, bob));
        nft.anchorCertificate(bobs, c, sig);

        // Rewriting the creator breaks the certifier's signature.
        c.creator = bob;
        vm.expectRevert(IMemoryNFT.InvalidSignature.selector);
        nft.anchorCertificate(bobs, c, sig);
    }

    /// @dev The certifier is inside the signed struct: a second certifier signing the same figures makes another
    ///      certificate (another digest), cannot pass its signature off as the first one's, cannot take the honest
    ///      certificate's digest first, and cannot revoke it.
    function test_SecondCertifierCannotHijackOrRevoke() public {
        address certifier2 = vm.addr(CERTIFIER2_KEY);
        vm.prank(admin);
        nft.setCertifier(certifier2, true);
        IMemoryNFT.Certificate memory honest = _cert(checksum);
        IMemoryNFT.Certificate memory copy = _cert(checksum);
        copy.certifier = certifier2;
        bytes32 digest = nft.hashCertificate(honest);
        bytes32 copyDigest = nft.hashCertificate(copy);
        vm.assertTrue(copyDigest != digest, "same figures, another certifier: another digest");

        // certifier2's signature of the honest struct is not the honest certifier's.
        vm.expectRevert(IMemoryNFT.InvalidSignature.selector);
        nft.anchorCertificate(tokenId, honest, _sign(CERTIFIER2_KEY, digest));

        // certifier2 anchors its own copy first; the honest certificate still anchors after it.
        nft.anchorCertificate(tokenId, copy, _sign(CERTIFIER2_KEY, copyDigest));
        nft.anchorCertificate(tokenId, honest, _sign(CERTIFIER_KEY, digest));
        (, address by,,) = nft.certificateOf(digest);
        vm.assertEq(by, certifier, "the honest certificate is the honest certifier's");
        (, by,,) = nft.certificateOf(copyDigest);
        vm.assertEq(by, certifier2, "the copy is certifier2's");

        vm.prank(certifier2);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NotCertificateCertifier.selector, certifier2, certifier));
        nft.revokeCertificate(digest);
        vm.prank(certifier2);
        nft.revokeCertificate(copyDigest);
        (,, bool revoked,) = nft.certificateOf(digest);
        vm.assertFalse(revoked, "the honest certificate stands");
    }

    function test_RevertWhen_AnchorInvalidLevel() public {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes memory sig;
        c.level = 0;
        sig = _sign(CERTIFIER_KEY, nft.hashCertificate(c));
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.CertificateInvalidLevel.selector, 0));
        nft.anchorCertificate(tokenId, c, sig);
        c.level = 5;
        sig = _sign(CERTIFIER_KEY, nft.hashCertificate(c));
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.CertificateInvalidLevel.selector, 5));
        nft.anchorCertificate(tokenId, c, sig);
    }

    function test_RevertWhen_AnchorInvalidWindow() public {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes memory sig;
        c.expiresAt = c.issuedAt;
        sig = _sign(CERTIFIER_KEY, nft.hashCertificate(c));
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.CertificateInvalidWindow.selector, c.issuedAt, c.expiresAt));
        nft.anchorCertificate(tokenId, c, sig);
        c.expiresAt = c.issuedAt - 1;
        sig = _sign(CERTIFIER_KEY, nft.hashCertificate(c));
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.CertificateInvalidWindow.selector, c.issuedAt, c.expiresAt));
        nft.anchorCertificate(tokenId, c, sig);
    }

    function test_RevertWhen_AnchorIssuedInFuture() public {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        c.issuedAt = uint64(block.timestamp + 1);
        bytes memory sig = _sign(CERTIFIER_KEY, nft.hashCertificate(c));
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.CertificateNotYetIssued.selector, c.issuedAt));
        nft.anchorCertificate(tokenId, c, sig);
        // From issuedAt on it anchors.
        vm.warp(c.issuedAt);
        nft.anchorCertificate(tokenId, c, sig);
    }

    function test_RevertWhen_AnchorExpired() public {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes memory sig = _sign(CERTIFIER_KEY, nft.hashCertificate(c));
        vm.warp(c.expiresAt + 1);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.CertificateExpired.selector, c.expiresAt));
        nft.anchorCertificate(tokenId, c, sig);
    }

    /// @dev Expiry is inclusive: valid while block.timestamp <= expiresAt, as the Rust verifier says.
    function test_anchorCertificate_AtExpiryInstant() public {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes32 digest = nft.hashCertificate(c);
        bytes memory sig = _sign(CERTIFIER_KEY, digest);
        vm.warp(c.expiresAt);
        nft.anchorCertificate(tokenId, c, sig);
        (,,, uint64 expiresAt) = nft.certificateOf(digest);
        vm.assertEq(expiresAt, block.timestamp, "anchored at its last valid second");
    }

    function test_RevertWhen_AnchorReplayed() public {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes32 digest = nft.hashCertificate(c);
        bytes memory sig = _sign(CERTIFIER_KEY, digest);
        nft.anchorCertificate(tokenId, c, sig);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.CertificateAlreadyAnchored.selector, digest));
        nft.anchorCertificate(tokenId, c, sig);
    }

    function test_RevertWhen_AnchorMalformedSignature() public {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        vm.expectRevert(IMemoryNFT.InvalidSignature.selector);
        nft.anchorCertificate(tokenId, c, hex"1234");
        (uint8 v, bytes32 r,) = vm.sign(CERTIFIER_KEY, nft.hashCertificate(c));
        // s in the upper half of the curve order is refused (malleability).
        vm.expectRevert(IMemoryNFT.InvalidSignature.selector);
        nft.anchorCertificate(tokenId, c, abi.encodePacked(r, bytes32(type(uint256).max), v));
    }

    /// @dev A certificate that names a certifier without the role, signed by that account.
    function test_RevertWhen_AnchorSignedByNonCertifier() public {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        c.certifier = alice;
        bytes memory sig = _sign(ALICE_KEY, nft.hashCertificate(c));
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NotCertifier.selector, alice));
        nft.anchorCertificate(tokenId, c, sig);
    }

    /// @dev A certificate that names the certifier, signed by somebody else.
    function test_RevertWhen_AnchorSignedByOtherThanCertifier() public {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes memory sig = _sign(ALICE_KEY, nft.hashCertificate(c));
        vm.expectRevert(IMemoryNFT.InvalidSignature.selector);
        nft.anchorCertificate(tokenId, c, sig);
    }

    function test_RevertWhen_AnchorByRemovedCertifier() public {
        vm.prank(admin);
        nft.setCertifier(certifier, false);
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes memory sig = _sign(CERTIFIER_KEY, nft.hashCertificate(c));
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NotCertifier.selector, certifier));
        nft.anchorCertificate(tokenId, c, sig);
    }

    /// @dev A certificate signed for another deployment (other verifyingContract) or another chain is a
    ///      signature of another digest: not the certifier's signature here.
    function test_RevertWhen_AnchorForeignSignature() public {
        MemoryNFT other = new MemoryNFT(address(accountImpl), admin);
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes memory sig = _sign(CERTIFIER_KEY, other.hashCertificate(c));
        vm.expectRevert(IMemoryNFT.InvalidSignature.selector);
        nft.anchorCertificate(tokenId, c, sig);

        uint256 chain = block.chainid;
        vm.chainId(1);
        bytes32 mainnetDigest = nft.hashCertificate(c);
        vm.chainId(chain);
        sig = _sign(CERTIFIER_KEY, mainnetDigest);
        vm.expectRevert(IMemoryNFT.InvalidSignature.selector);
        nft.anchorCertificate(tokenId, c, sig);
    }

    // ------------------------------------------------------------------ revocation

    function _anchored() internal returns (bytes32 digest) {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        digest = nft.hashCertificate(c);
        nft.anchorCertificate(tokenId, c, _sign(CERTIFIER_KEY, digest));
    }

    function test_revokeCertificate_ByItsCertifier() public {
        bytes32 digest = _anchored();
        vm.expectEmit(address(nft));
        emit IMemoryNFT.CertificateRevoked(tokenId, digest, certifier);
        vm.prank(certifier);
        nft.revokeCertificate(digest);
        (,, bool revoked,) = nft.certificateOf(digest);
        vm.assertTrue(revoked, "revoked");
    }

    function test_revokeCertificate_AfterRoleRemoved() public {
        bytes32 digest = _anchored();
        vm.prank(admin);
        nft.setCertifier(certifier, false);
        vm.prank(certifier);
        nft.revokeCertificate(digest);
        (,, bool revoked,) = nft.certificateOf(digest);
        vm.assertTrue(revoked, "a former certifier can still withdraw its word");
    }

    function test_RevertWhen_RevokeByNonCertifier() public {
        bytes32 digest = _anchored();
        vm.prank(admin);
        nft.setCertifier(bob, true);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NotCertificateCertifier.selector, bob, certifier));
        nft.revokeCertificate(digest);
    }

    function test_RevertWhen_RevokeUnknown() public {
        vm.prank(certifier);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.UnknownCertificate.selector, bytes32(uint256(1))));
        nft.revokeCertificate(bytes32(uint256(1)));
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.UnknownCertificate.selector, bytes32(uint256(1))));
        nft.certificateOf(bytes32(uint256(1)));
    }

    function test_RevertWhen_RevokeTwice() public {
        bytes32 digest = _anchored();
        vm.startPrank(certifier);
        nft.revokeCertificate(digest);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.CertificateAlreadyRevoked.selector, digest));
        nft.revokeCertificate(digest);
        vm.stopPrank();
    }
}
