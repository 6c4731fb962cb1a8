//! Content checksums (the value anchored on chain) and plain file SHA-256.
//!
//! The content checksum is SHA-256 over a canonical, domain-separated encoding of what an
//! artifact *holds*, independent of how the file lays it out:
//!
//! ```text
//! str(s)  = u64_le(len(s)) || s                          (UTF-8 bytes)
//! content = str("memory-protocol/content/v1")
//!        || u64_le(#metadata) || for each entry by key (byte order): str(key) || str(value)
//!        || u64_le(#tensors)  || for each tensor by name (byte order):
//!               str(name) || str(dtype) || u64_le(rank) || u64_le(dim)... ||
//!               u64_le(#bytes) || raw little-endian bytes
//! checksum = SHA-256(content)
//! ```
//!
//! Files are streamed in 128 KiB chunks (small enough to stay in L2 between the read and the
//! hash) and never loaded whole. The content checksum alone ([`content_checksum_file`]) reads on
//! a second thread, so the copy out of the page cache overlaps the hashing and one SHA-256
//! stream runs at the speed of the hash; both checksums together ([`checksum_file`]) run one
//! stream per thread.
//!
//! Verifying a file means hashing *and* evaluating the same bytes: use
//! [`Artifact::open_with_checksum`] (or `WMatrix`/`TestSet::load_with_checksum`), which hashes
//! while it loads, rather than a checksum function followed by a second read of the file.

use std::{
    fs::File,
    io::{Read, Seek, SeekFrom},
    path::Path,
    sync::mpsc::{Receiver, SyncSender, sync_channel},
};

use alloy::primitives::B256;
use sha2::{Digest, Sha256};

use crate::{
    artifact::{Artifact, Dtype, Header},
    error::{Error, Result},
};

/// Domain tag that starts every content encoding.
pub const CONTENT_DOMAIN: &str = "memory-protocol/content/v1";

/// Read size of the streamed checksums and of loading (128 KiB).
pub(crate) const CHUNK: usize = 1 << 17;
/// Chunks in flight between the reader thread and the hasher.
const IN_FLIGHT: usize = 4;

/// Checksums of one artifact file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checksums {
    /// Canonical content checksum (anchored on chain, layout independent).
    pub content: B256,
    /// Plain SHA-256 of the file bytes (what download mirrors publish).
    pub file: B256,
    /// File length in bytes.
    pub file_len: u64,
    /// Number of tensors.
    pub tensors: usize,
}

fn put_str(h: &mut Sha256, s: &str) {
    h.update((s.len() as u64).to_le_bytes());
    h.update(s.as_bytes());
}

/// The canonical content encoding (see the module docs) fed to SHA-256 piece by piece: the
/// metadata and tensor count at creation, then for each tensor in name order its prefix
/// ([`ContentHasher::tensor`]) and its data bytes ([`ContentHasher::update`], in any number of
/// chunks). The one implementation behind every content checksum of the crate.
pub(crate) struct ContentHasher(Sha256);

impl ContentHasher {
    /// Starts the encoding: domain tag, the metadata in key order, the tensor count.
    pub(crate) fn new<'a>(
        metadata: impl ExactSizeIterator<Item = (&'a String, &'a String)>,
        tensors: usize,
    ) -> Self {
        let mut h = Sha256::new();
        put_str(&mut h, CONTENT_DOMAIN);
        h.update((metadata.len() as u64).to_le_bytes());
        for (k, v) in metadata {
            put_str(&mut h, k);
            put_str(&mut h, v);
        }
        h.update((tensors as u64).to_le_bytes());
        Self(h)
    }

    /// Everything that precedes a tensor's data: name, dtype, rank, dimensions, byte count.
    pub(crate) fn tensor(&mut self, name: &str, dtype: Dtype, shape: &[usize], len: u64) {
        let h = &mut self.0;
        put_str(h, name);
        put_str(h, dtype.name());
        h.update((shape.len() as u64).to_le_bytes());
        for &d in shape {
            h.update((d as u64).to_le_bytes());
        }
        h.update(len.to_le_bytes());
    }

    /// Data bytes of the current tensor.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The checksum.
    pub(crate) fn finish(self) -> B256 {
        finish(self.0)
    }
}

fn finish(h: Sha256) -> B256 {
    B256::from_slice(&h.finalize())
}

/// The content checksum of an in-memory artifact (equal to [`checksum_file`]'s `content` for
/// any file holding the same tensors and metadata).
pub fn content_checksum(artifact: &Artifact) -> B256 {
    let mut h = ContentHasher::new(artifact.metadata.iter(), artifact.tensors.len());
    for (name, t) in &artifact.tensors {
        h.tensor(name, t.dtype(), t.shape(), t.data().len() as u64);
        h.update(t.data());
    }
    h.finish()
}

/// What [`copy_into`] feeds: a plain SHA-256 or the content encoding.
trait Digestible {
    fn feed(&mut self, bytes: &[u8]);
}

impl Digestible for Sha256 {
    fn feed(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

impl Digestible for ContentHasher {
    fn feed(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

/// SHA-256 of a byte slice.
pub fn sha256(bytes: &[u8]) -> B256 {
    B256::from_slice(&Sha256::digest(bytes))
}

/// Streams `len` bytes of `file` into `h`, reporting progress.
fn copy_into(
    h: &mut impl Digestible,
    file: &mut File,
    mut len: u64,
    buf: &mut [u8],
    path: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    while len > 0 {
        let want = buf.len().min(usize::try_from(len).unwrap_or(usize::MAX));
        let n = file
            .read(&mut buf[..want])
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Err(Error::Truncated(format!(
                "{}: file shrank while hashing",
                path.display()
            )));
        }
        h.feed(&buf[..n]);
        len -= n as u64;
        progress(n as u64);
    }
    Ok(())
}

/// Content checksum of a safetensors file, streamed from disk (one SHA-256 stream, the
/// fastest way to get the value anchored on chain).
pub fn content_checksum_file(path: impl AsRef<Path>) -> Result<B256> {
    content_checksum_file_with_progress(path, &|_| {})
}

/// [`content_checksum_file`] that calls `progress(bytes)` as the tensor data is hashed.
pub fn content_checksum_file_with_progress(
    path: impl AsRef<Path>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<B256> {
    let path = path.as_ref();
    let (header, file) = Header::open(path)?;
    content_pipelined(&header, file, path, progress)
}

/// The header and the content checksum of a safetensors file, from one streamed read (for
/// a verifier that needs the metadata too, without loading the tensors).
pub fn content_checksum_file_with_header(path: impl AsRef<Path>) -> Result<(Header, B256)> {
    let path = path.as_ref();
    let (header, file) = Header::open(path)?;
    let checksum = content_pipelined(&header, file, path, &|_| {})?;
    Ok((header, checksum))
}

/// Reads the tensors' bytes in file order on this thread into recycled buffers from `free`,
/// sending each filled buffer (or the first error) to `full`. Stops when the hasher hangs up.
fn read_tensors(
    header: &Header,
    mut file: File,
    path: &Path,
    free: &Receiver<Vec<u8>>,
    full: &SyncSender<Result<(Vec<u8>, usize)>>,
) {
    for t in &header.tensors {
        if let Err(e) = file.seek(SeekFrom::Start(t.offset)) {
            let _ = full.send(Err(Error::io(path, e)));
            return;
        }
        let mut len = t.len;
        while len > 0 {
            let Ok(mut buf) = free.recv() else { return };
            let want = buf.len().min(usize::try_from(len).unwrap_or(usize::MAX));
            let msg = match file.read(&mut buf[..want]) {
                Ok(0) => Err(Error::Truncated(format!(
                    "{}: file shrank while hashing",
                    path.display()
                ))),
                Ok(n) => {
                    len -= n as u64;
                    Ok((buf, n))
                }
                Err(e) => Err(Error::io(path, e)),
            };
            let stop = msg.is_err();
            if full.send(msg).is_err() || stop {
                return;
            }
        }
    }
}

/// The content checksum with the reads on a second thread (see the module docs).
fn content_pipelined(
    header: &Header,
    file: File,
    path: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<B256> {
    let (free_tx, free_rx) = sync_channel::<Vec<u8>>(IN_FLIGHT);
    let (full_tx, full_rx) = sync_channel::<Result<(Vec<u8>, usize)>>(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        free_tx
            .send(vec![0u8; CHUNK])
            .map_err(|_| Error::Truncated("reader thread failed".into()))?;
    }
    std::thread::scope(|s| {
        s.spawn(move || read_tensors(header, file, path, &free_rx, &full_tx));
        // owns the channel ends: whatever it returns, they close before the scope joins the
        // reader, which then stops instead of waiting for a buffer
        hash_stream(header, full_rx, free_tx, progress)
    })
}

/// The hasher's side of [`content_pipelined`].
fn hash_stream(
    header: &Header,
    full: Receiver<Result<(Vec<u8>, usize)>>,
    free: SyncSender<Vec<u8>>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<B256> {
    let mut h = ContentHasher::new(header.metadata.iter(), header.tensors.len());
    for t in &header.tensors {
        h.tensor(&t.name, t.dtype, &t.shape, t.len);
        let mut len = t.len;
        while len > 0 {
            let (buf, n) = full
                .recv()
                .map_err(|_| Error::Truncated("reader thread failed".into()))??;
            h.update(&buf[..n]);
            len -= n as u64;
            progress(n as u64);
            // the reader may have finished and hung up: nothing more to recycle then
            let _ = free.send(buf);
        }
    }
    Ok(h.finish())
}

/// The content checksum on this thread alone (used beside the file hash in [`checksum_file`]).
fn content_of(
    header: &Header,
    file: &mut File,
    path: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<B256> {
    let mut h = ContentHasher::new(header.metadata.iter(), header.tensors.len());
    let mut buf = vec![0u8; CHUNK];
    for t in &header.tensors {
        h.tensor(&t.name, t.dtype, &t.shape, t.len);
        file.seek(SeekFrom::Start(t.offset))
            .map_err(|e| Error::io(path, e))?;
        copy_into(&mut h, file, t.len, &mut buf, path, progress)?;
    }
    Ok(h.finish())
}

/// Plain SHA-256 of any file, streamed.
pub fn file_sha256(path: impl AsRef<Path>) -> Result<B256> {
    let path = path.as_ref();
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    file_hash_of(&mut file, len, path, &|_| {})
}

fn file_hash_of(
    file: &mut File,
    len: u64,
    path: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<B256> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    copy_into(&mut h, file, len, &mut buf, path, progress)?;
    Ok(finish(h))
}

/// Both checksums of a safetensors file: the canonical content checksum and the plain file
/// SHA-256, computed in one streamed pass each on two threads.
///
/// ```
/// use memory_protocol::{artifact::{Artifact, Tensor}, checksum::{checksum_file, content_checksum}};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("w.safetensors");
/// let artifact = Artifact::new()
///     .with_tensor("weight", Tensor::from_f32(vec![1, 2], &[1.0, 2.0])?)
///     .with_meta("kind", "w-matrix");
/// artifact.write(&path)?;
/// let sums = checksum_file(&path)?;
/// assert_eq!(sums.content, content_checksum(&artifact));
/// assert_eq!(sums.file_len, std::fs::metadata(&path)?.len());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn checksum_file(path: impl AsRef<Path>) -> Result<Checksums> {
    checksum_file_with_progress(path, &|_| {})
}

/// [`checksum_file`] that calls `progress(bytes)` as the file hash advances (the increments
/// add up to the file length).
pub fn checksum_file_with_progress(
    path: impl AsRef<Path>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Checksums> {
    let path = path.as_ref();
    let (header, mut content_file) = Header::open(path)?;
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = header.file_len;
    let (content, file_hash) = std::thread::scope(|s| {
        let worker = s.spawn(|| content_of(&header, &mut content_file, path, &|_| {}));
        let file_hash = file_hash_of(&mut file, file_len, path, progress);
        let content = worker
            .join()
            .unwrap_or_else(|_| Err(Error::Truncated("content hashing thread failed".into())));
        (content, file_hash)
    });
    Ok(Checksums {
        content: content?,
        file: file_hash?,
        file_len,
        tensors: header.tensors.len(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::artifact::Tensor;

    #[test]
    fn sha256_known_answer() {
        assert_eq!(
            sha256(b"abc").to_string(),
            "0xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn metadata_and_tensor_boundaries_are_unambiguous() {
        let t = |v: &[f32]| Tensor::from_f32(vec![v.len()], v).unwrap();
        let a = Artifact::new()
            .with_tensor("a", t(&[1., 2.]))
            .with_tensor("b", t(&[3.]));
        let b = Artifact::new()
            .with_tensor("a", t(&[1.]))
            .with_tensor("b", t(&[2., 3.]));
        assert_ne!(content_checksum(&a), content_checksum(&b));
        let m1 = Artifact::new().with_meta("ab", "c");
        let m2 = Artifact::new().with_meta("a", "bc");
        assert_ne!(content_checksum(&m1), content_checksum(&m2));
    }
}
