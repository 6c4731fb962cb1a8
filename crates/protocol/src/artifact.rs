//! The artifact format: safetensors files with string metadata, read strictly and written
//! deterministically, plus a `.npy` reader so numpy users can bring their arrays.
//!
//! Reading validates every length before allocating: the header length is bounded by
//! [`MAX_HEADER_LEN`] and by the file size, every tensor's byte range must match its dtype and
//! shape, and the ranges must tile the data section exactly (as the safetensors spec requires).
//! The JSON header is parsed straight into typed structures (no generic JSON tree), with the
//! rank bounded by [`MAX_RANK`], the tensor count by [`MAX_TENSORS`] and the metadata by
//! [`MAX_METADATA_ENTRIES`], so reading a header takes memory proportional to what it
//! describes, never to what an attacker repeats; and a header that says one thing twice (a
//! tensor name, a metadata key, `__metadata__`, a tensor field) is rejected, because readers
//! that keep the first and readers that keep the last would see two different artifacts.
//!
//! Writing is deterministic: the header is compact JSON with `__metadata__` first and the
//! tensors sorted by name, padded with spaces to a multiple of 8 bytes, and the data section
//! holds the tensors in the same order. The same [`Artifact`] always gives the same bytes.

use std::{
    borrow::Cow,
    cell::RefCell,
    collections::BTreeMap,
    fmt,
    fs::File,
    io::{BufWriter, Read, Seek, SeekFrom, Write},
    path::Path,
};

use alloy::primitives::B256;
use ndarray::{Array1, Array2};
use serde::{
    Deserialize, Deserializer,
    de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor},
};

use crate::{
    checksum::ContentHasher,
    error::{Error, Result},
};

/// Upper bound on the safetensors JSON header (the same bound as the reference implementation).
pub const MAX_HEADER_LEN: u64 = 100 * 1024 * 1024;

/// Upper bound on a tensor's rank (number of dimensions). The artifacts have rank 1 or 2 and a
/// KV-cache at most 6 (`[layers, 2, batch, heads, tokens, head_dim]`); a bound keeps a header
/// from making the reader store millions of dimensions of size 1.
pub const MAX_RANK: usize = 8;

/// Upper bound on the number of tensors in one file. A W-Matrix or a test set has 2 and a
/// KV-cache stored per layer and head at most `128 layers × 128 heads × 2 = 32 768`; the bound
/// leaves twice that, and keeps the parsed header of a hostile file to a few MB.
pub const MAX_TENSORS: usize = 65_536;

/// Upper bound on the number of `__metadata__` entries (the conventional keys are about ten).
pub const MAX_METADATA_ENTRIES: usize = 4_096;

/// The header key of the metadata map.
const METADATA_KEY: &str = "__metadata__";

/// Upper bound on a `.npy` header.
pub const MAX_NPY_HEADER_LEN: usize = 1024 * 1024;

/// Metadata keys with a conventional meaning (none is required by the format).
pub mod meta {
    /// What the artifact is: `w-matrix`, `test-set`, ...
    pub const KIND: &str = "kind";
    /// The model the map goes from.
    pub const SOURCE_MODEL: &str = "source_model";
    /// The model the map goes to.
    pub const TARGET_MODEL: &str = "target_model";
    /// Semantic version of the artifact.
    pub const VERSION: &str = "version";
}

/// Element types of the safetensors format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dtype {
    /// Boolean, one byte.
    Bool,
    /// Unsigned 8-bit integer.
    U8,
    /// Signed 8-bit integer.
    I8,
    /// 8-bit float, 5 exponent bits.
    F8E5M2,
    /// 8-bit float, 4 exponent bits.
    F8E4M3,
    /// Signed 16-bit integer.
    I16,
    /// Unsigned 16-bit integer.
    U16,
    /// IEEE half precision.
    F16,
    /// bfloat16.
    BF16,
    /// Signed 32-bit integer.
    I32,
    /// Unsigned 32-bit integer.
    U32,
    /// IEEE single precision.
    F32,
    /// IEEE double precision.
    F64,
    /// Signed 64-bit integer.
    I64,
    /// Unsigned 64-bit integer.
    U64,
}

impl Dtype {
    /// Every dtype this crate reads, in the order of the safetensors specification. The
    /// sub-byte and exponent-only dtypes of safetensors 0.6 (`F4`, `F6_E2M3`, `F6_E3M2`,
    /// `F8_E8M0`) are not among them: headers using them are rejected as unknown.
    pub const ALL: [Self; 15] = [
        Self::Bool,
        Self::U8,
        Self::I8,
        Self::F8E5M2,
        Self::F8E4M3,
        Self::I16,
        Self::U16,
        Self::F16,
        Self::BF16,
        Self::I32,
        Self::U32,
        Self::F32,
        Self::F64,
        Self::I64,
        Self::U64,
    ];

    /// The name used in safetensors headers (`"F32"`, `"BF16"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Bool => "BOOL",
            Self::U8 => "U8",
            Self::I8 => "I8",
            Self::F8E5M2 => "F8_E5M2",
            Self::F8E4M3 => "F8_E4M3",
            Self::I16 => "I16",
            Self::U16 => "U16",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
            Self::I32 => "I32",
            Self::U32 => "U32",
            Self::F32 => "F32",
            Self::F64 => "F64",
            Self::I64 => "I64",
            Self::U64 => "U64",
        }
    }

    /// Parses a safetensors dtype name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            Self::Bool | Self::U8 | Self::I8 | Self::F8E5M2 | Self::F8E4M3 => 1,
            Self::I16 | Self::U16 | Self::F16 | Self::BF16 => 2,
            Self::I32 | Self::U32 | Self::F32 => 4,
            Self::F64 | Self::I64 | Self::U64 => 8,
        }
    }

    /// Whether [`Tensor::to_f64_vec`] can read this dtype (F16, BF16, F32, F64).
    pub const fn is_float(self) -> bool {
        matches!(self, Self::F16 | Self::BF16 | Self::F32 | Self::F64)
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Number of elements of a shape, `None` on overflow.
fn numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Where one tensor lives in a safetensors file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// Tensor name.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Dimensions, row-major.
    pub shape: Vec<usize>,
    /// Absolute byte offset of the data in the file.
    pub offset: u64,
    /// Byte length of the data.
    pub len: u64,
}

/// A validated safetensors header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The `__metadata__` map (empty when absent).
    pub metadata: BTreeMap<String, String>,
    /// Tensors sorted by name.
    pub tensors: Vec<TensorInfo>,
    /// Length of the JSON header in bytes (after the 8-byte length prefix).
    pub header_len: u64,
    /// Total file length.
    pub file_len: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTensor {
    #[serde(deserialize_with = "dtype_by_name")]
    dtype: Dtype,
    #[serde(deserialize_with = "bounded_shape")]
    shape: Vec<usize>,
    data_offsets: [u64; 2],
}

/// A header parsed into typed parts, before the offsets are checked.
struct RawHeader<'de> {
    metadata: BTreeMap<String, String>,
    tensors: Vec<(Cow<'de, str>, RawTensor)>,
}

/// Parses the header object; `context` names the entry being parsed, for error messages.
struct HeaderSeed<'c> {
    context: &'c RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for HeaderSeed<'_> {
    type Value = RawHeader<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeaderSeed<'_> {
    type Value = RawHeader<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of tensors and `__metadata__`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut metadata = None;
        let mut tensors = Vec::new();
        while let Some(JsonStr(key)) = map.next_key()? {
            if key == METADATA_KEY {
                if metadata.is_some() {
                    return Err(de::Error::custom("duplicate `__metadata__` entry"));
                }
                *self.context.borrow_mut() = Some(format!("`{METADATA_KEY}`"));
                metadata = Some(map.next_value::<Metadata>()?.0);
            } else {
                if tensors.len() == MAX_TENSORS {
                    return Err(de::Error::custom(format!(
                        "more than {MAX_TENSORS} tensors (the limit)"
                    )));
                }
                *self.context.borrow_mut() = Some(format!("tensor `{key}`"));
                let tensor: RawTensor = map.next_value()?;
                tensors.push((key, tensor));
            }
            *self.context.borrow_mut() = None;
        }
        Ok(RawHeader {
            metadata: metadata.unwrap_or_default(),
            tensors,
        })
    }
}

/// A JSON string, borrowed from the header when it holds no escapes.
struct JsonStr<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for JsonStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(JsonStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The `__metadata__` map of strings, rejecting a key given twice and more than
/// [`MAX_METADATA_ENTRIES`] entries.
struct Metadata(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Metadata;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of strings to strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(JsonStr(key)) = map.next_key()? {
                    if out.len() == MAX_METADATA_ENTRIES {
                        return Err(de::Error::custom(format!(
                            "more than {MAX_METADATA_ENTRIES} metadata entries (the limit)"
                        )));
                    }
                    let JsonStr(value) = map.next_value()?;
                    if out.contains_key(key.as_ref()) {
                        return Err(de::Error::custom(format!("duplicate metadata key `{key}`")));
                    }
                    out.insert(key.into_owned(), value.into_owned());
                }
                Ok(Metadata(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn dtype_by_name<'de, D: Deserializer<'de>>(d: D) -> Result<Dtype, D::Error> {
    let JsonStr(name) = JsonStr::deserialize(d)?;
    Dtype::from_name(&name).ok_or_else(|| {
        let known: Vec<&str> = Dtype::ALL.iter().map(|d| d.name()).collect();
        de::Error::custom(format!(
            "unknown dtype `{name}` (known: {})",
            known.join(", ")
        ))
    })
}

/// A shape of at most [`MAX_RANK`] dimensions; stops reading at the first one too many.
fn bounded_shape<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<usize>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<usize>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "an array of at most {MAX_RANK} dimensions")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut shape = Vec::new();
            while let Some(dim) = seq.next_element::<usize>()? {
                if shape.len() == MAX_RANK {
                    return Err(de::Error::custom(format!(
                        "shape has a rank greater than {MAX_RANK} (the limit)"
                    )));
                }
                shape.push(dim);
            }
            Ok(shape)
        }
    }
    d.deserialize_seq(V)
}

impl Header {
    /// Reads and validates the header of a safetensors stream of `file_len` bytes, leaving
    /// the reader just after the header. Nothing larger than [`MAX_HEADER_LEN`] (or than
    /// the file) is ever allocated.
    pub fn read(reader: &mut impl Read, file_len: u64) -> Result<Self> {
        if file_len < 8 {
            return Err(Error::Truncated(format!(
                "{file_len} bytes is too short for a safetensors file"
            )));
        }
        let mut prefix = [0u8; 8];
        reader
            .read_exact(&mut prefix)
            .map_err(|e| Error::Truncated(e.to_string()))?;
        let header_len = u64::from_le_bytes(prefix);
        if header_len > MAX_HEADER_LEN {
            return Err(Error::HeaderTooLarge {
                len: header_len,
                max: MAX_HEADER_LEN,
            });
        }
        if header_len > file_len - 8 {
            return Err(Error::Truncated(format!(
                "header of {header_len} bytes but only {} bytes follow",
                file_len - 8
            )));
        }
        let len = usize::try_from(header_len).map_err(|_| Error::HeaderTooLarge {
            len: header_len,
            max: MAX_HEADER_LEN,
        })?;
        let mut json = vec![0u8; len];
        reader
            .read_exact(&mut json)
            .map_err(|e| Error::Truncated(e.to_string()))?;
        Self::parse(&json, file_len)
    }

    /// Validates a JSON header taken from a file of `file_len` bytes.
    ///
    /// The JSON is parsed into typed structures in one pass over the text (names borrowed
    /// from it where they need no unescaping); see the module docs for the bounds.
    pub fn parse(json: &[u8], file_len: u64) -> Result<Self> {
        let header_len = json.len() as u64;
        let data_start = 8 + header_len;
        let data_len = file_len
            .checked_sub(data_start)
            .ok_or_else(|| Error::Truncated("header runs past the end of the file".into()))?;
        let text = std::str::from_utf8(json)
            .map_err(|_| Error::MalformedHeader("header is not UTF-8".into()))?;
        let context = RefCell::new(None);
        let mut de = serde_json::Deserializer::from_str(text);
        let raw = HeaderSeed { context: &context }
            .deserialize(&mut de)
            .and_then(|raw| de.end().map(|()| raw))
            .map_err(|e| {
                Error::MalformedHeader(match context.take() {
                    Some(entry) => format!("{entry}: {e}"),
                    None => e.to_string(),
                })
            })?;
        let mut tensors = Vec::with_capacity(raw.tensors.len());
        for (name, t) in raw.tensors {
            let dtype = t.dtype;
            let [begin, end] = t.data_offsets;
            let expected = numel(&t.shape)
                .and_then(|n| n.checked_mul(dtype.size()))
                .ok_or_else(|| {
                    Error::MalformedHeader(format!("tensor `{name}`: shape overflows"))
                })?;
            if end < begin || end - begin != expected as u64 {
                return Err(Error::MalformedHeader(format!(
                    "tensor `{name}`: data_offsets [{begin}, {end}] do not hold {expected} bytes \
                     of {dtype} {:?}",
                    t.shape
                )));
            }
            tensors.push(TensorInfo {
                name: name.into_owned(),
                dtype,
                shape: t.shape,
                offset: begin,
                len: end - begin,
            });
        }
        // One name, one tensor: a reader keeping the first of two and one keeping the last
        // would disagree on the content (and the checksum).
        tensors.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(pair) = tensors.windows(2).find(|p| p[0].name == p[1].name) {
            return Err(Error::MalformedHeader(format!(
                "duplicate tensor `{}`",
                pair[0].name
            )));
        }
        // The byte ranges must tile the data section exactly.
        tensors.sort_by_key(|t| (t.offset, t.len));
        let mut cursor = 0u64;
        for t in &tensors {
            if t.offset != cursor {
                return Err(Error::MalformedHeader(format!(
                    "tensor `{}` starts at {} instead of {cursor} (gap or overlap)",
                    t.name, t.offset
                )));
            }
            cursor += t.len;
        }
        if cursor > data_len {
            return Err(Error::Truncated(format!(
                "tensors need {cursor} data bytes but the file holds {data_len}"
            )));
        }
        if cursor < data_len {
            return Err(Error::MalformedHeader(format!(
                "{} trailing bytes after the last tensor",
                data_len - cursor
            )));
        }
        for t in &mut tensors {
            t.offset += data_start;
        }
        tensors.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self {
            metadata: raw.metadata,
            tensors,
            header_len,
            file_len,
        })
    }

    /// Opens `path` and reads its header.
    pub fn open(path: &Path) -> Result<(Self, File)> {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let header = Self::read(&mut file, file_len)?;
        Ok((header, file))
    }
}

/// One tensor held in memory: dtype, shape and raw little-endian bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl Tensor {
    /// Builds a tensor, checking that `data` holds exactly `shape` elements of `dtype`.
    pub fn new(dtype: Dtype, shape: Vec<usize>, data: Vec<u8>) -> Result<Self> {
        let expected = numel(&shape).and_then(|n| n.checked_mul(dtype.size()));
        if expected != Some(data.len()) {
            return Err(Error::ShapeMismatch(format!(
                "{} bytes do not hold a {dtype} tensor of shape {shape:?}",
                data.len()
            )));
        }
        Ok(Self { dtype, shape, data })
    }

    /// An F32 tensor from values (row-major).
    pub fn from_f32(shape: Vec<usize>, values: &[f32]) -> Result<Self> {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self::new(Dtype::F32, shape, data)
    }

    /// An F32 tensor from f64 values, rejecting values that are not finite in f32.
    pub fn f32_from_f64(name: &str, shape: Vec<usize>, values: &[f64]) -> Result<Self> {
        let mut data = Vec::with_capacity(values.len() * 4);
        for (index, &v) in values.iter().enumerate() {
            let f = v as f32;
            if !f.is_finite() {
                return Err(Error::NonFinite {
                    tensor: name.to_owned(),
                    index,
                });
            }
            data.extend_from_slice(&f.to_le_bytes());
        }
        Self::new(Dtype::F32, shape, data)
    }

    /// An F32 tensor from a 2-D array.
    pub fn f32_from_array2(name: &str, array: &Array2<f64>) -> Result<Self> {
        let values: Vec<f64> = array.iter().copied().collect();
        Self::f32_from_f64(name, array.shape().to_vec(), &values)
    }

    /// An F64 tensor from values (row-major), rejecting non-finite values.
    pub fn f64_from_f64(name: &str, shape: Vec<usize>, values: &[f64]) -> Result<Self> {
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                tensor: name.to_owned(),
                index,
            });
        }
        Self::new(
            Dtype::F64,
            shape,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    }

    /// A float tensor of `dtype` (F32 or F64) from f64 values; other dtypes are refused.
    pub fn float_from_f64(
        name: &str,
        dtype: Dtype,
        shape: Vec<usize>,
        values: &[f64],
    ) -> Result<Self> {
        match dtype {
            Dtype::F32 => Self::f32_from_f64(name, shape, values),
            Dtype::F64 => Self::f64_from_f64(name, shape, values),
            other => Err(Error::UnsupportedDtype {
                tensor: name.to_owned(),
                dtype: other.name().to_owned(),
            }),
        }
    }

    /// Element type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// Dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Raw little-endian bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The values upcast to f64 (F16, BF16, F32, F64 only); NaN and infinities are rejected.
    /// `name` is used in errors.
    pub fn to_f64_vec(&self, name: &str) -> Result<Vec<f64>> {
        let values: Vec<f64> = match self.dtype {
            Dtype::F16 => self
                .data
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f64())
                .collect(),
            Dtype::BF16 => self
                .data
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f64())
                .collect(),
            Dtype::F32 => self
                .data
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            Dtype::F64 => self
                .data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
            other => {
                return Err(Error::UnsupportedDtype {
                    tensor: name.to_owned(),
                    dtype: other.name().to_owned(),
                });
            }
        };
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                tensor: name.to_owned(),
                index,
            });
        }
        Ok(values)
    }

    /// The tensor as a 2-D f64 array; errors unless it has rank 2.
    pub fn to_array2(&self, name: &str) -> Result<Array2<f64>> {
        let &[rows, cols] = self.shape.as_slice() else {
            return Err(Error::ShapeMismatch(format!(
                "tensor `{name}` must be 2-D, found shape {:?}",
                self.shape
            )));
        };
        let values = self.to_f64_vec(name)?;
        Array2::from_shape_vec((rows, cols), values)
            .map_err(|e| Error::ShapeMismatch(format!("tensor `{name}`: {e}")))
    }

    /// The tensor as a 1-D f64 array; errors unless it has rank 1.
    pub fn to_array1(&self, name: &str) -> Result<Array1<f64>> {
        if self.shape.len() != 1 {
            return Err(Error::ShapeMismatch(format!(
                "tensor `{name}` must be 1-D, found shape {:?}",
                self.shape
            )));
        }
        Ok(Array1::from_vec(self.to_f64_vec(name)?))
    }
}

/// A safetensors artifact held in memory: named tensors and string metadata, both kept in
/// name order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Artifact {
    /// String metadata (`kind`, `source_model`, `target_model`, `version`, ...).
    pub metadata: BTreeMap<String, String>,
    /// Tensors by name.
    pub tensors: BTreeMap<String, Tensor>,
}

impl Artifact {
    /// An empty artifact.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tensor (builder style).
    pub fn with_tensor(mut self, name: impl Into<String>, tensor: Tensor) -> Self {
        self.tensors.insert(name.into(), tensor);
        self
    }

    /// Adds a metadata entry (builder style).
    pub fn with_meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The tensor called `name`, or [`Error::MissingTensor`].
    pub fn tensor(&self, name: &str) -> Result<&Tensor> {
        self.tensors
            .get(name)
            .ok_or_else(|| Error::MissingTensor(name.to_owned()))
    }

    /// Reads and validates a safetensors file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let (header, file) = Header::open(path)?;
        Self::read_data(header, file, path, None)
    }

    /// Reads and validates a safetensors file and computes its content checksum from the
    /// same bytes, in one read of the file: what is hashed is exactly what is returned (a
    /// file replaced between a "checksum" read and a "load" read could otherwise pair one
    /// file's checksum with another's content). Equal to
    /// [`content_checksum`](crate::checksum::content_checksum) of the returned artifact.
    ///
    /// ```
    /// use memory_protocol::{artifact::{Artifact, Tensor}, checksum::content_checksum};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("w.safetensors");
    /// Artifact::new().with_tensor("weight", Tensor::from_f32(vec![1, 2], &[1.0, 2.0])?).write(&path)?;
    /// let (artifact, checksum) = Artifact::open_with_checksum(&path)?;
    /// assert_eq!(checksum, content_checksum(&artifact));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_with_checksum(path: impl AsRef<Path>) -> Result<(Self, B256)> {
        let path = path.as_ref();
        let (header, file) = Header::open(path)?;
        let mut hasher = ContentHasher::new(header.metadata.iter(), header.tensors.len());
        let artifact = Self::read_data(header, file, path, Some(&mut hasher))?;
        Ok((artifact, hasher.finish()))
    }

    /// Reads the tensors' bytes (in name order, the order of the content encoding), feeding
    /// each chunk to `hasher` right after it is read.
    fn read_data(
        header: Header,
        mut file: File,
        path: &Path,
        mut hasher: Option<&mut ContentHasher>,
    ) -> Result<Self> {
        let mut tensors = BTreeMap::new();
        for info in header.tensors {
            // `len` was checked against the file size, so this allocation is bounded.
            let len = usize::try_from(info.len)
                .map_err(|_| Error::MalformedHeader(format!("tensor `{}` too large", info.name)))?;
            let mut data = vec![0u8; len];
            file.seek(SeekFrom::Start(info.offset))
                .map_err(|e| Error::io(path, e))?;
            if let Some(h) = hasher.as_deref_mut() {
                h.tensor(&info.name, info.dtype, &info.shape, info.len);
            }
            for chunk in data.chunks_mut(crate::checksum::CHUNK) {
                file.read_exact(chunk).map_err(|e| match e.kind() {
                    std::io::ErrorKind::UnexpectedEof => {
                        Error::Truncated(format!("{}: file changed while reading", path.display()))
                    }
                    _ => Error::io(path, e),
                })?;
                if let Some(h) = hasher.as_deref_mut() {
                    h.update(chunk);
                }
            }
            tensors.insert(
                info.name,
                Tensor {
                    dtype: info.dtype,
                    shape: info.shape,
                    data,
                },
            );
        }
        Ok(Self {
            metadata: header.metadata,
            tensors,
        })
    }

    /// Parses a safetensors file held in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut reader = bytes;
        let header = Header::read(&mut reader, bytes.len() as u64)?;
        let mut tensors = BTreeMap::new();
        for info in header.tensors {
            // Offsets were validated against `bytes.len()` by `Header::read`.
            let start = info.offset as usize;
            let data = bytes[start..start + info.len as usize].to_vec();
            tensors.insert(
                info.name,
                Tensor {
                    dtype: info.dtype,
                    shape: info.shape,
                    data,
                },
            );
        }
        Ok(Self {
            metadata: header.metadata,
            tensors,
        })
    }

    /// The deterministic JSON header, padded with spaces to a multiple of 8 bytes.
    fn header_json(&self) -> String {
        let mut out = String::from("{");
        let mut first = true;
        let quote = |s: &str| serde_json::Value::from(s).to_string();
        if !self.metadata.is_empty() {
            out.push_str("\"__metadata__\":{");
            for (i, (k, v)) in self.metadata.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&quote(k));
                out.push(':');
                out.push_str(&quote(v));
            }
            out.push('}');
            first = false;
        }
        let mut offset = 0usize;
        for (name, t) in &self.tensors {
            if !first {
                out.push(',');
            }
            first = false;
            let shape: Vec<String> = t.shape.iter().map(ToString::to_string).collect();
            let end = offset + t.data.len();
            out.push_str(&format!(
                "{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
                quote(name),
                t.dtype.name(),
                shape.join(",")
            ));
            offset = end;
        }
        out.push('}');
        while out.len() % 8 != 0 {
            out.push(' ');
        }
        out
    }

    /// Writes the artifact in the deterministic layout.
    pub fn write_to(&self, mut writer: impl Write) -> std::io::Result<()> {
        let header = self.header_json();
        writer.write_all(&(header.len() as u64).to_le_bytes())?;
        writer.write_all(header.as_bytes())?;
        for t in self.tensors.values() {
            writer.write_all(&t.data)?;
        }
        writer.flush()
    }

    /// The deterministic file bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.write_to(&mut out);
        out
    }

    /// Writes the artifact to `path` (through a temporary file renamed into place).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let tmp = path.with_extension("safetensors.partial");
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        self.write_to(BufWriter::with_capacity(1 << 20, file))
            .map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }
}

/// Reads a `.npy` file (format versions 1-3, little- or big-endian, C or 2-D Fortran order)
/// into a tensor. Supported element types: f2, f4, f8, i1, u1, i2, u2, i4, u4, i8, u8, b1.
pub fn read_npy(path: impl AsRef<Path>) -> Result<Tensor> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(&bytes)
}

/// Parses `.npy` bytes; see [`read_npy`].
pub fn parse_npy(bytes: &[u8]) -> Result<Tensor> {
    let bad = |m: &str| Error::MalformedNpy(m.to_owned());
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("missing \\x93NUMPY magic"));
    }
    let (header_len, header_start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad("truncated header length"));
            }
            let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (usize::try_from(len).unwrap_or(usize::MAX), 12)
        }
        v => {
            return Err(Error::MalformedNpy(format!(
                "unsupported format version {v}"
            )));
        }
    };
    if header_len > MAX_NPY_HEADER_LEN {
        return Err(bad("header too large"));
    }
    let data_start = header_start + header_len;
    if data_start > bytes.len() {
        return Err(bad("truncated header"));
    }
    let header = std::str::from_utf8(&bytes[header_start..data_start])
        .map_err(|_| bad("header is not UTF-8"))?;
    let descr = dict_value(header, "descr").ok_or_else(|| bad("no 'descr' in header"))?;
    let descr = descr.trim().trim_matches(|c| c == '\'' || c == '"');
    let fortran = match dict_value(header, "fortran_order").map(str::trim) {
        Some("False") => false,
        Some("True") => true,
        _ => return Err(bad("no valid 'fortran_order' in header")),
    };
    let shape_text = dict_value(header, "shape").ok_or_else(|| bad("no 'shape' in header"))?;
    let shape_text = shape_text.trim();
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| bad("'shape' is not a tuple"))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| bad("'shape' holds a non-integer"))
        })
        .collect::<Result<Vec<_>>>()?;
    let (endian, code) = match (descr.get(..1), descr.get(1..)) {
        (Some(e), Some(c)) => (e, c),
        _ => return Err(Error::MalformedNpy(format!("unsupported dtype '{descr}'"))),
    };
    let dtype = match code {
        "f2" => Dtype::F16,
        "f4" => Dtype::F32,
        "f8" => Dtype::F64,
        "i1" => Dtype::I8,
        "u1" => Dtype::U8,
        "b1" => Dtype::Bool,
        "i2" => Dtype::I16,
        "u2" => Dtype::U16,
        "i4" => Dtype::I32,
        "u4" => Dtype::U32,
        "i8" => Dtype::I64,
        "u8" => Dtype::U64,
        _ => return Err(Error::MalformedNpy(format!("unsupported dtype '{descr}'"))),
    };
    let big_endian = match endian {
        "<" | "|" | "=" => false,
        ">" => true,
        _ => {
            return Err(Error::MalformedNpy(format!(
                "unsupported byte order in '{descr}'"
            )));
        }
    };
    let size = dtype.size();
    let expected = numel(&shape)
        .and_then(|n| n.checked_mul(size))
        .ok_or_else(|| bad("shape overflows"))?;
    let body = &bytes[data_start..];
    if body.len() < expected {
        return Err(Error::Truncated(format!(
            "npy data holds {} bytes, shape {shape:?} needs {expected}",
            body.len()
        )));
    }
    if body.len() > expected {
        return Err(bad("trailing bytes after the array data"));
    }
    let mut data = body.to_vec();
    if big_endian && size > 1 {
        data.chunks_exact_mut(size).for_each(<[u8]>::reverse);
    }
    if fortran && shape.len() > 1 {
        let &[rows, cols] = shape.as_slice() else {
            return Err(bad("Fortran-order arrays of rank > 2 are not supported"));
        };
        let mut c_order = vec![0u8; data.len()];
        for i in 0..rows {
            for j in 0..cols {
                let src = (j * rows + i) * size;
                let dst = (i * cols + j) * size;
                c_order[dst..dst + size].copy_from_slice(&data[src..src + size]);
            }
        }
        data = c_order;
    }
    Tensor::new(dtype, shape, data)
}

/// The raw text of the value of `key` in a numpy header dict (up to the next top-level comma).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?
        + key.len()
        + 2;
    let rest = header[start..].trim_start().strip_prefix(':')?;
    let mut depth = 0i32;
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(&rest[..i]),
            _ => {}
        }
    }
    None
}

/// Writes a 2-D f64 array as a little-endian `<f8` `.npy` (version 1) byte vector; used by
/// tests and tools to hand arrays to numpy.
pub fn npy_bytes_f64(array: &Array2<f64>) -> Vec<u8> {
    let (rows, cols) = array.dim();
    let mut header =
        format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in array {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod tests {
    use super::*;

    fn sample() -> Artifact {
        Artifact::new()
            .with_tensor(
                "weight",
                Tensor::from_f32(vec![2, 3], &[1., 2., 3., 4., 5., 6.]).unwrap(),
            )
            .with_tensor("bias", Tensor::from_f32(vec![2], &[0.5, -0.5]).unwrap())
            .with_meta(meta::KIND, "w-matrix")
            .with_meta(meta::VERSION, "1.0.0")
    }

    #[test]
    fn round_trip_and_determinism() {
        let a = sample();
        let bytes = a.to_bytes();
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        assert_eq!(header_len % 8, 0);
        let b = Artifact::from_bytes(&bytes).unwrap();
        assert_eq!(a, b);
        assert_eq!(bytes, b.to_bytes());
    }

    #[test]
    fn rejects_huge_header_without_allocating() {
        let mut bytes = (u64::MAX / 2).to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        assert!(matches!(
            Artifact::from_bytes(&bytes),
            Err(Error::HeaderTooLarge { .. })
        ));
        let mut bytes = 1000u64.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        assert!(matches!(
            Artifact::from_bytes(&bytes),
            Err(Error::Truncated(_))
        ));
    }

    #[test]
    fn rejects_truncated_data_and_bad_offsets() {
        let bytes = sample().to_bytes();
        let cut = &bytes[..bytes.len() - 1];
        assert!(matches!(
            Artifact::from_bytes(cut),
            Err(Error::Truncated(_))
        ));
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(matches!(
            Artifact::from_bytes(&extra),
            Err(Error::MalformedHeader(_))
        ));
        let json = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#;
        let mut bad = (json.len() as u64).to_le_bytes().to_vec();
        bad.extend_from_slice(json);
        bad.extend_from_slice(&[0; 4]);
        assert!(matches!(
            Artifact::from_bytes(&bad),
            Err(Error::MalformedHeader(_))
        ));
    }

    #[test]
    fn rejects_unknown_dtype_and_non_float_reads() {
        let json = br#"{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}"#;
        let mut bad = (json.len() as u64).to_le_bytes().to_vec();
        bad.extend_from_slice(json);
        bad.extend_from_slice(&[0; 16]);
        assert!(matches!(
            Artifact::from_bytes(&bad),
            Err(Error::MalformedHeader(_))
        ));
        let t = Tensor::new(Dtype::I32, vec![1], vec![0; 4]).unwrap();
        assert!(matches!(
            t.to_f64_vec("t"),
            Err(Error::UnsupportedDtype { .. })
        ));
    }

    #[test]
    fn half_precision_and_nan() {
        let t = Tensor::new(
            Dtype::F16,
            vec![2],
            [
                half::f16::from_f32(1.5).to_le_bytes(),
                half::f16::NAN.to_le_bytes(),
            ]
            .concat(),
        )
        .unwrap();
        assert!(matches!(
            t.to_f64_vec("t"),
            Err(Error::NonFinite { index: 1, .. })
        ));
        let t = Tensor::new(
            Dtype::BF16,
            vec![1],
            half::bf16::from_f32(-2.0).to_le_bytes().to_vec(),
        )
        .unwrap();
        assert_eq!(t.to_f64_vec("t").unwrap(), vec![-2.0]);
    }

    #[test]
    fn npy_round_trip_and_fortran_order() {
        let a = Array2::from_shape_fn((2, 3), |(i, j)| (i * 3 + j) as f64);
        let t = parse_npy(&npy_bytes_f64(&a)).unwrap();
        assert_eq!(t.to_array2("a").unwrap(), a);
        let header = "{'descr': '>f4', 'fortran_order': True, 'shape': (2, 3), }\n";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        for v in [0f32, 3., 1., 4., 2., 5.] {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(parse_npy(&bytes).unwrap().to_array2("a").unwrap(), a);
        assert!(matches!(
            parse_npy(&bytes[..bytes.len() - 2]),
            Err(Error::Truncated(_))
        ));
        assert!(matches!(
            parse_npy(b"not an npy file"),
            Err(Error::MalformedNpy(_))
        ));
    }
}
