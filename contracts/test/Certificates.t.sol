// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MemoryNFT} from "../src/MemoryNFT.sol";
import {IMemoryNFT} from "../src/interfaces/IMemoryNFT.sol";
import {BaseTest} from "./utils/BaseTest.sol";

/// @notice EIP-712 certificates: the shared test vector, anchoring and revocation.
contract CertificatesTest is BaseTest {
    string internal constant VECTOR = "contracts/test/vectors/certificate.json";
    /// @dev Anvil's account 0: on a fresh chain its first contract is the vector's verifyingContract.
    address internal constant ANVIL_DEPLOYER = 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266;

    uint256 internal tokenId;
    bytes32 internal checksum;

    function setUp() public override {
        super.setUp();
        tokenId = _mintBy(alice);
        checksum = _checksumOf(tokenId);
    }

    // ------------------------------------------------------------------ the shared vector

    function _vectorCert(string memory json) internal pure returns (IMemoryNFT.Certificate memory c) {
        c.checksum = vm.parseJsonBytes32(json, ".certificate.checksum");
        c.testSetChecksum = vm.parseJsonBytes32(json, ".certificate.testSetChecksum");
        c.epsilonPpm = uint32(vm.parseJsonUint(json, ".certificate.epsilonPpm"));
        c.relErrorPpm = uint32(vm.parseJsonUint(json, ".certificate.relErrorPpm"));
        c.cosinePpm = int32(vm.parseJsonInt(json, ".certificate.cosinePpm"));
        c.euclideanPpm = uint64(vm.parseJsonUint(json, ".certificate.euclideanPpm"));
        c.testSamples = uint32(vm.parseJsonUint(json, ".certificate.testSamples"));
        c.level = uint8(vm.parseJsonUint(json, ".certificate.level"));
        c.issuedAt = uint64(vm.parseJsonUint(json, ".certificate.issuedAt"));
        c.expiresAt = uint64(vm.parseJsonUint(json, ".certificate.expiresAt"));
        c.nonce = vm.parseJsonUint(json, ".certificate.nonce");
    }

    function test_vector_MatchesContractAndAnchors() public {
        string memory json = vm.readFile(VECTOR);
        MemoryNFT vnft = _deployAtVectorDomain(json);
        IMemoryNFT.Certificate memory c = _vectorCert(json);
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
        vm.assertEq(signature.length, 65, "r|s|v");

        // A token with the vector's checksum, the vector's signer as certifier.
        vm.prank(admin);
        vnft.setCertifier(signer, true);
        vm.prank(bob);
        vnft.mint(_params(bob, c.checksum, new uint256[](0)));
        vm.warp(c.issuedAt + 1);
        vm.expectEmit(address(vnft));
        emit IMemoryNFT.CertificateAnchored(1, digest, signer, c);
        vm.assertEq(vnft.anchorCertificate(1, c, signature), digest, "anchored digest");
        (uint256 anchoredToken, address by, bool revoked) = vnft.certificateOf(digest);
        vm.assertEq(anchoredToken, 1, "token");
        vm.assertEq(by, signer, "certifier");
        vm.assertFalse(revoked, "not revoked");
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
        field %= 11;
        value = value == 0 ? 1 : value;
        if (field == 0) c.checksum ^= bytes32(value);
        else if (field == 1) c.testSetChecksum ^= bytes32(value);
        else if (field == 2) c.epsilonPpm ^= uint32(value | 1);
        else if (field == 3) c.relErrorPpm ^= uint32(value | 1);
        else if (field == 4) c.cosinePpm ^= int32(uint32(value | 1));
        else if (field == 5) c.euclideanPpm ^= uint64(value | 1);
        else if (field == 6) c.testSamples ^= uint32(value | 1);
        else if (field == 7) c.level ^= uint8(value | 1);
        else if (field == 8) c.issuedAt ^= uint64(value | 1);
        else if (field == 9) c.expiresAt ^= uint64(value | 1);
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
        (uint256 t, address by, bool revoked) = nft.certificateOf(digest);
        vm.assertEq(t, tokenId, "token");
        vm.assertEq(by, certifier, "certifier");
        vm.assertFalse(revoked, "live");
    }

    /// @dev Only 65-byte (r, s, v) signatures: OpenZeppelin 5 dropped EIP-2098 compact ones.
    function test_RevertWhen_AnchorCompactSignature() public {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(CERTIFIER_KEY, nft.hashCertificate(c));
        bytes32 vs = bytes32(uint256(v - 27) << 255) | s;
        vm.expectRevert(IMemoryNFT.InvalidSignature.selector);
        nft.anchorCertificate(tokenId, c, abi.encodePacked(r, vs));
    }

    function test_anchorCertificateBy_Eoa() public {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes32 digest = nft.hashCertificate(c);
        nft.anchorCertificateBy(tokenId, c, certifier, _sign(CERTIFIER_KEY, digest));
        (, address by,) = nft.certificateOf(digest);
        vm.assertEq(by, certifier, "certifier");
    }

    /// @dev An ERC-1271 certifier: a token-bound MemoryAccount whose holder (alice) signs.
    function test_anchorCertificateBy_Erc1271Contract() public {
        IMemoryNFT.MintParams memory p = _params(alice, keccak256("certifier account"), new uint256[](0));
        p.createAccount = true;
        vm.prank(alice);
        uint256 badge = nft.mint(p);
        address wallet = nft.accountOf(badge);
        vm.prank(admin);
        nft.setCertifier(wallet, true);

        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes32 digest = nft.hashCertificate(c);
        nft.anchorCertificateBy(tokenId, c, wallet, _sign(ALICE_KEY, digest));
        (, address by,) = nft.certificateOf(digest);
        vm.assertEq(by, wallet, "contract certifier");

        // The contract's holder changes: alice's signature no longer speaks for it.
        c.nonce = 2;
        digest = nft.hashCertificate(c);
        bytes memory aliceSig = _sign(ALICE_KEY, digest);
        vm.prank(alice);
        nft.transferFrom(alice, bob, badge);
        vm.expectRevert(IMemoryNFT.InvalidSignature.selector);
        nft.anchorCertificateBy(tokenId, c, wallet, aliceSig);
    }

    function test_RevertWhen_AnchorForUnknownToken() public {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes memory sig = _sign(CERTIFIER_KEY, nft.hashCertificate(c));
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NonexistentToken.selector, 99));
        nft.anchorCertificate(99, c, sig);
    }

    function test_RevertWhen_AnchorForAnotherChecksum() public {
        uint256 other = _mintBy(bob);
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes memory sig = _sign(CERTIFIER_KEY, nft.hashCertificate(c));
        vm.expectRevert(
            abi.encodeWithSelector(IMemoryNFT.CertificateChecksumMismatch.selector, checksum, _checksumOf(other))
        );
        nft.anchorCertificate(other, c, sig);
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
    }

    function test_RevertWhen_AnchorExpired() public {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes memory sig = _sign(CERTIFIER_KEY, nft.hashCertificate(c));
        vm.warp(c.expiresAt + 1);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.CertificateExpired.selector, c.expiresAt));
        nft.anchorCertificate(tokenId, c, sig);
    }

    function test_anchorCertificate_AtExpiryInstant() public {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes memory sig = _sign(CERTIFIER_KEY, nft.hashCertificate(c));
        vm.warp(c.expiresAt);
        nft.anchorCertificate(tokenId, c, sig);
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

    function test_RevertWhen_AnchorSignedByNonCertifier() public {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes memory sig = _sign(ALICE_KEY, nft.hashCertificate(c));
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NotCertifier.selector, alice));
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

    /// @dev A certificate signed for another deployment (other verifyingContract) or another chain
    ///      recovers to a different address here.
    function test_RevertWhen_AnchorForeignSignature() public {
        MemoryNFT other = new MemoryNFT(address(accountImpl), admin);
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes32 foreignDigest = other.hashCertificate(c);
        bytes memory sig = _sign(CERTIFIER_KEY, foreignDigest);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(CERTIFIER_KEY, foreignDigest);
        address recovered = ecrecover(nft.hashCertificate(c), v, r, s);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NotCertifier.selector, recovered));
        nft.anchorCertificate(tokenId, c, sig);

        uint256 chain = block.chainid;
        vm.chainId(1);
        bytes32 mainnetDigest = nft.hashCertificate(c);
        vm.chainId(chain);
        (v, r, s) = vm.sign(CERTIFIER_KEY, mainnetDigest);
        recovered = ecrecover(nft.hashCertificate(c), v, r, s);
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NotCertifier.selector, recovered));
        nft.anchorCertificate(tokenId, c, abi.encodePacked(r, s, v));
    }

    function test_RevertWhen_AnchorByNonCertifierContract() public {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes memory sig = _sign(CERTIFIER_KEY, nft.hashCertificate(c));
        vm.expectRevert(abi.encodeWithSelector(IMemoryNFT.NotCertifier.selector, bob));
        nft.anchorCertificateBy(tokenId, c, bob, sig);
    }

    function test_RevertWhen_AnchorByWithWrongSigner() public {
        IMemoryNFT.Certificate memory c = _cert(checksum);
        bytes memory sig = _sign(ALICE_KEY, nft.hashCertificate(c));
        vm.expectRevert(IMemoryNFT.InvalidSignature.selector);
        nft.anchorCertificateBy(tokenId, c, certifier, sig);
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
        (,, bool revoked) = nft.certificateOf(digest);
        vm.assertTrue(revoked, "revoked");
    }

    function test_revokeCertificate_AfterRoleRemoved() public {
        bytes32 digest = _anchored();
        vm.prank(admin);
        nft.setCertifier(certifier, false);
        vm.prank(certifier);
        nft.revokeCertificate(digest);
        (,, bool revoked) = nft.certificateOf(digest);
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
