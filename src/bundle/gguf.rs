//! A bounded walk over a bundle's GGUF payload, run before candle parses it.
//! candle's reader checks string and array lengths against the bytes left,
//! but it divides by a `general.alignment` of 0, multiplies tensor
//! dimensions unchecked, and builds one value per array element (32 bytes in
//! memory for each byte on disk). This walk reads the same layout with every
//! count, length, dimension and tensor range checked against the payload, so
//! whatever passes it parses within the payload's bounds.

use candle_core::quantized::GgmlDType;

/// Metadata entries a payload may declare (a bundle writes three).
const MAX_METADATA_ENTRIES: u64 = 1024;
/// Tensors a payload may declare (MiniLM with its head has about a hundred).
const MAX_TENSORS: u64 = 4096;
/// Array elements in all metadata together (a bundle writes none).
const MAX_ARRAY_ELEMENTS: u64 = 1 << 16;
/// Nesting of arrays in arrays.
const MAX_DEPTH: usize = 8;
/// Dimensions of one tensor (candle's limit).
const MAX_DIMS: u32 = 4;
/// The alignment candle uses when the metadata names none.
const DEFAULT_ALIGNMENT: u64 = 32;
const ALIGNMENT_KEY: &[u8] = b"general.alignment";

/// Checks that a GGUF payload of `payload_len` bytes, of which `head` is the
/// beginning (all of it, or enough to hold its metadata and tensor list),
/// declares only sizes that fit in it. A `head` too short to hold the list
/// fails like a truncated payload: read more and check again.
pub(super) fn check(head: &[u8], payload_len: u64) -> Result<(), String> {
    let mut reader = Reader {
        bytes: head,
        at: 0,
        wide: true,
    };
    let magic = reader.u32()?;
    if magic != 0x4655_4747 && magic != 0x4747_5546 {
        return Err(format!("not GGUF (magic {magic:#010x})"));
    }
    reader.wide = match reader.u32()? {
        1 => false,
        2 | 3 => true,
        version => return Err(format!("GGUF version {version} is not 1, 2 or 3")),
    };
    let tensors = reader.count(MAX_TENSORS, "tensors")?;
    let entries = reader.count(MAX_METADATA_ENTRIES, "metadata entries")?;
    let mut walk = Walk {
        reader,
        alignment: DEFAULT_ALIGNMENT,
        array_elements: 0,
    };
    for _ in 0..entries {
        walk.entry()?;
    }
    let mut ranges = Vec::new();
    for _ in 0..tensors {
        ranges.push(walk.reader.tensor_info()?);
    }
    let data_start = (walk.reader.at as u64)
        .div_ceil(walk.alignment)
        .checked_mul(walk.alignment)
        .ok_or("the tensor data offset overflows")?;
    for (offset, bytes) in ranges {
        let end = data_start
            .checked_add(offset)
            .and_then(|start| start.checked_add(bytes))
            .filter(|&end| end <= payload_len);
        if end.is_none() {
            return Err(format!(
                "a tensor of {bytes} bytes at offset {offset} lies beyond the {payload_len}-byte payload"
            ));
        }
    }
    Ok(())
}

/// A cursor over the payload that never reads past its end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Lengths and dimensions are u64 (GGUF v2, v3), not u32 (v1).
    wide: bool,
}

impl<'a> Reader<'a> {
    fn left(&self) -> u64 {
        (self.bytes.len() - self.at) as u64
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        if n > self.left() {
            return Err(format!(
                "{n} bytes needed at offset {}, {} left",
                self.at,
                self.left()
            ));
        }
        let start = self.at;
        self.at += n as usize;
        Ok(&self.bytes[start..self.at])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N as u64)?);
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, String> {
        self.array().map(u64::from_le_bytes)
    }

    /// A length or dimension: u64, or u32 in GGUF v1.
    fn length(&mut self) -> Result<u64, String> {
        if self.wide {
            self.u64()
        } else {
            self.u32().map(u64::from)
        }
    }

    /// A count of `what`, at most `max`.
    fn count(&mut self, max: u64, what: &str) -> Result<u64, String> {
        let count = self.length()?;
        if count > max {
            return Err(format!("{count} {what}, more than the {max} allowed"));
        }
        Ok(count)
    }

    fn string(&mut self) -> Result<&'a [u8], String> {
        let len = self.length()?;
        self.take(len)
    }

    /// One tensor description: its data's offset and size in bytes.
    fn tensor_info(&mut self) -> Result<(u64, u64), String> {
        let name = String::from_utf8_lossy(self.string()?).into_owned();
        let n_dims = self.u32()?;
        if n_dims > MAX_DIMS {
            return Err(format!("tensor {name:?} has {n_dims} dimensions"));
        }
        let mut elements = 1u64;
        for _ in 0..n_dims {
            let dim = self.length()?;
            elements = elements
                .checked_mul(dim)
                .filter(|&e| dim > 0 && usize::try_from(e).is_ok())
                .ok_or_else(|| format!("tensor {name:?} has a dimension of {dim}"))?;
        }
        let id = self.u32()?;
        let dtype = dtype(id).ok_or_else(|| format!("tensor {name:?} has type {id}"))?;
        let block = dtype.block_size() as u64;
        if elements % block != 0 {
            return Err(format!(
                "tensor {name:?}: {elements} elements do not fill blocks of {block}"
            ));
        }
        let bytes = (elements / block)
            .checked_mul(dtype.type_size() as u64)
            .ok_or_else(|| format!("tensor {name:?} is too large"))?;
        let offset = self.u64()?;
        Ok((offset, bytes))
    }
}

/// The metadata walk: the reader, the alignment candle will use, and the
/// array elements seen so far.
struct Walk<'a> {
    reader: Reader<'a>,
    alignment: u64,
    array_elements: u64,
}

impl Walk<'_> {
    /// One key and its value; notes the alignment as candle reads it.
    fn entry(&mut self) -> Result<(), String> {
        let key = self.reader.string()?;
        let kind = self.reader.u32()?;
        let value = self.value(kind, 0)?;
        if key == ALIGNMENT_KEY {
            // The last entry wins, and candle ignores values of other types.
            let alignment = value.unwrap_or(DEFAULT_ALIGNMENT);
            if !alignment.is_power_of_two() {
                return Err(format!(
                    "general.alignment {alignment} is not a power of two"
                ));
            }
            self.alignment = alignment;
        }
        Ok(())
    }

    /// Skips one value of GGUF type `kind`; returns it when it is an integer
    /// that candle accepts as an alignment (unsigned or non-negative, at most 32 bits).
    fn value(&mut self, kind: u32, depth: usize) -> Result<Option<u64>, String> {
        let reader = &mut self.reader;
        let alignment = match kind {
            0 => Some(u64::from(reader.array::<1>()?[0])),
            1 => u64::try_from(i8::from_le_bytes(reader.array()?)).ok(),
            2 => Some(u64::from(u16::from_le_bytes(reader.array()?))),
            3 => u64::try_from(i16::from_le_bytes(reader.array()?)).ok(),
            4 => Some(u64::from(reader.u32()?)),
            5 => u64::try_from(i32::from_le_bytes(reader.array()?)).ok(),
            6 => reader.take(4).map(|_| None)?,
            7 => match reader.array::<1>()?[0] {
                0 | 1 => None,
                b => return Err(format!("boolean of value {b}")),
            },
            8 => reader.string().map(|_| None)?,
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(format!("arrays nested deeper than {MAX_DEPTH}"));
                }
                let element_kind = reader.u32()?;
                let len = reader.length()?;
                self.array_elements = self.array_elements.saturating_add(len);
                if self.array_elements > MAX_ARRAY_ELEMENTS {
                    return Err(format!(
                        "more than {MAX_ARRAY_ELEMENTS} array elements in the metadata"
                    ));
                }
                for _ in 0..len {
                    self.value(element_kind, depth + 1)?;
                }
                None
            }
            10..=12 => reader.take(8).map(|_| None)?,
            other => return Err(format!("metadata value of unknown type {other}")),
        };
        Ok(alignment)
    }
}

/// The tensor type of GGUF type id `id`, if candle can load it.
fn dtype(id: u32) -> Option<GgmlDType> {
    Some(match id {
        0 => GgmlDType::F32,
        1 => GgmlDType::F16,
        2 => GgmlDType::Q4_0,
        3 => GgmlDType::Q4_1,
        6 => GgmlDType::Q5_0,
        7 => GgmlDType::Q5_1,
        8 => GgmlDType::Q8_0,
        10 => GgmlDType::Q2K,
        11 => GgmlDType::Q3K,
        12 => GgmlDType::Q4K,
        13 => GgmlDType::Q5K,
        14 => GgmlDType::Q6K,
        30 => GgmlDType::BF16,
        _ => return None,
    })
}
