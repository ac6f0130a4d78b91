//! The bundle: the one file the page downloads. It holds everything needed to
//! classify (quantized weights, config, tokenizer, labels, thresholds,
//! temperature, task, maximum length) and says where it came from (base
//! model, training data, metrics, creation date).
//!
//! Layout: a 52-byte header, then a GGUF payload.
//!
//! | bytes | field                                        |
//! |-------|----------------------------------------------|
//! | 8     | magic `PLOTGNRE`                             |
//! | 4     | format version, u32 little-endian            |
//! | 8     | payload length, u64 little-endian            |
//! | 32    | sha256 of the payload                        |
//! | rest  | GGUF: tensors, and three JSON strings under `plotgenre.manifest`, `plotgenre.config`, `plotgenre.tokenizer` |
//!
//! Loading checks magic, version, length and hash before it returns anything
//! (`from_bytes` before it parses, `open` while it parses on another thread),
//! so a truncated, corrupted or foreign file fails with a clear error and
//! never yields a partial model; a bounded walk (`gguf.rs`) checks every
//! size the payload declares against its length before candle reads it.

mod gguf;

use std::io::Cursor;
use std::ops::Range;

use candle_core::quantized::ggml_file::qtensor_from_ggml;
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::QTensor;
use candle_core::Device;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::labels::{Task, Thresholds};
use crate::model::weights::QTensors;
use crate::model::{Classifier, Config, Source};
use crate::pipeline::Pipeline;
use crate::tokenize::TextEncoder;
use crate::{Error, Result};

/// The first bytes of every bundle.
pub const MAGIC: [u8; 8] = *b"PLOTGNRE";
/// The layout version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Magic, version, payload length and sha256.
pub const HEADER_LEN: usize = 8 + 4 + 8 + 32;

const MANIFEST_KEY: &str = "plotgenre.manifest";
const CONFIG_KEY: &str = "plotgenre.config";
const TOKENIZER_KEY: &str = "plotgenre.tokenizer";

/// Where a bundle came from, shown in the page's model card.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Name of the pretrained encoder the model was fine-tuned from.
    pub base_model: String,
    /// The dataset(s) it was trained on.
    pub training_data: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// Test metrics of the model under its own rule, as `eval --json` prints them.
    pub metrics: serde_json::Value,
    /// How `export` tuned the thresholds on the bundle's own validation
    /// probabilities: the rule and cap it kept, the criterion and the
    /// rule's score (null when it did not).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub decisions: serde_json::Value,
}

/// What the classifier needs besides weights, config and tokenizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub task: Task,
    /// Genre names, in logit order.
    pub labels: Vec<String>,
    /// Decision rule, thresholds and temperature, tuned on validation.
    pub thresholds: Thresholds,
    /// Tokens per text; longer texts are truncated.
    pub max_length: usize,
    /// How the weights are stored, e.g. `q8_0/q4k` (embeddings/linear layers).
    pub quantization: String,
    pub provenance: Provenance,
}

/// A parsed, verified bundle.
pub struct Bundle {
    pub manifest: Manifest,
    pub config: Config,
    pub tokenizer_json: String,
    /// Empty in a bundle from [`Bundle::open`]: they moved into its pipeline.
    pub tensors: QTensors,
    /// Size of the bundle file in bytes.
    pub size: usize,
}

/// Header fields, read before anything else is trusted.
struct Header {
    version: u32,
    payload_len: u64,
    sha256: [u8; 32],
}

fn invalid(problem: impl Into<String>) -> Error {
    Error::Bundle(problem.into())
}

impl Header {
    fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.is_empty() {
            return Err(invalid("the file is empty"));
        }
        if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
            return Err(invalid(
                "not a plotgenre bundle (wrong magic bytes); export one with `plotgenre export`",
            ));
        }
        if bytes.len() < HEADER_LEN {
            return Err(invalid(format!(
                "truncated: {} bytes, shorter than the {HEADER_LEN}-byte header; download it again",
                bytes.len()
            )));
        }
        let field = |at: usize, len: usize| &bytes[at..at + len];
        let version = u32::from_le_bytes(field(8, 4).try_into().unwrap_or_default());
        let payload_len = u64::from_le_bytes(field(12, 8).try_into().unwrap_or_default());
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(field(20, 32));
        Ok(Header {
            version,
            payload_len,
            sha256,
        })
    }

    /// The header of `bytes`, checked to be this format version and to
    /// announce exactly the payload that follows, and that payload.
    fn checked(bytes: &[u8]) -> Result<(Self, &[u8])> {
        let header = Self::checked_for(bytes, bytes.len())?;
        Ok((header, &bytes[HEADER_LEN..]))
    }

    /// The header at the start of `head`, checked to be this format version
    /// and to announce exactly the payload of a file of `file_len` bytes.
    fn checked_for(head: &[u8], file_len: usize) -> Result<Self> {
        let header = Self::parse(head)?;
        if header.version != FORMAT_VERSION {
            return Err(invalid(format!(
                "format version {} is not the version {FORMAT_VERSION} this build reads; \
                 use a plotgenre release that matches the bundle, or export it again",
                header.version
            )));
        }
        let payload_len = file_len - HEADER_LEN;
        if payload_len as u64 != header.payload_len {
            return Err(invalid(format!(
                "{payload_len} payload bytes where the header says {}: the file is truncated or has trailing data; download it again",
                header.payload_len
            )));
        }
        Ok(header)
    }

    /// Fails unless `payload` has the sha256 the header vouches for.
    fn verify(&self, payload: &[u8]) -> Result<()> {
        if sha256(payload) == self.sha256 {
            Ok(())
        } else {
            Err(invalid(
                "sha256 mismatch: the file is corrupted; download it again",
            ))
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.payload_len.to_le_bytes());
        out.extend_from_slice(&self.sha256);
    }
}

/// A GGUF payload behind the header that vouches for it (this version, its
/// length and sha256): a bundle's bytes.
pub fn seal(payload: &[u8]) -> Vec<u8> {
    let header = Header {
        version: FORMAT_VERSION,
        payload_len: payload.len() as u64,
        sha256: sha256(payload),
    };
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    header.write(&mut out);
    out.extend_from_slice(payload);
    out
}

/// The first piece of a payload [`Bundle::read_checked_in_pieces`] reads
/// for its metadata (the shipped bundle's is about 0.75 MB): 1 MiB, four
/// times more on each retry.
const FIRST_HEAD_BYTES: usize = 1 << 20;

/// Bytes hashed per call into the hash: 64 KiB.
const HASH_PIECE: usize = 1 << 16;

/// The sha256 of `bytes`, fed to the hash in pieces. V8 runs a wasm call in
/// the tier it started in until it returns, so one call over a 14 MB bundle
/// ran in its baseline code on a page's first visit (1.4 of a 1.7 s load,
/// in node); from piece to piece the optimised code takes over.
fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for piece in bytes.chunks(HASH_PIECE) {
        hasher.update(piece);
    }
    hasher.finalize().into()
}

/// The hex sha256 of `bytes`, the form manifests and error messages use.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha256(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Bundle {
    /// Serializes a model into bundle bytes. `tensors` are canonically named
    /// and already quantized as they should be stored.
    pub fn to_bytes(
        manifest: &Manifest,
        config: &Config,
        tokenizer_json: &str,
        tensors: &[(String, QTensor)],
    ) -> Result<Vec<u8>> {
        let manifest_json = Value::String(serde_json::to_string(manifest)?);
        let config_json = Value::String(config.to_json()?);
        let tokenizer = Value::String(tokenizer_json.to_string());
        let metadata = [
            (MANIFEST_KEY, &manifest_json),
            (CONFIG_KEY, &config_json),
            (TOKENIZER_KEY, &tokenizer),
        ];
        let tensor_refs: Vec<(&str, &QTensor)> =
            tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let mut payload = Cursor::new(Vec::new());
        gguf_file::write(&mut payload, &metadata, &tensor_refs)?;
        Ok(seal(&payload.into_inner()))
    }

    /// Parses and verifies bundle bytes: header, length, hash, then contents.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (header, payload) = Header::checked(bytes)?;
        header.verify(payload)?;
        Self::parse(payload, bytes.len())
    }

    /// Verifies bundle bytes and builds their classifier, the payload's
    /// hash checked on one of rayon's threads while the others parse;
    /// nothing is returned unless it matches. The bytes are taken, and freed
    /// once parsed, before the matrices are converted (see
    /// [`Bundle::build`]): in wasm, whose memory never shrinks, the load's
    /// peak does not hold them. A payload its caller has already checked is
    /// read with [`Bundle::read_checked_in_pieces`].
    pub fn open(bytes: Vec<u8>) -> Result<(Self, Pipeline)> {
        let (header, payload) = Header::checked(&bytes)?;
        let (verified, parsed) = rayon::join(
            || header.verify(payload),
            || Self::parse(payload, bytes.len()),
        );
        verified?;
        let bundle = parsed?;
        drop(bytes);
        bundle.build()
    }

    /// A bundle whose payload the caller has checked (as the page does, with
    /// WebCrypto), read piece by piece through `read` (a range of the file's
    /// `file_len` bytes): the header, the metadata, then each tensor. The
    /// whole file is never copied at once, so in wasm, whose memory never
    /// shrinks, the module never holds the 14 MB file beside the model: the
    /// page reads its own copy this way. [`Bundle::build`] makes its
    /// classifier.
    pub fn read_checked_in_pieces(
        file_len: usize,
        mut read: impl FnMut(Range<usize>) -> Vec<u8>,
    ) -> Result<Self> {
        let header = Header::checked_for(&read(0..file_len.min(HEADER_LEN)), file_len)?;
        let mut head_len = FIRST_HEAD_BYTES;
        let head = loop {
            let head = read(HEADER_LEN..HEADER_LEN + head_len.min(file_len - HEADER_LEN));
            match gguf::check(&head, header.payload_len) {
                Err(_) if head_len < file_len - HEADER_LEN => head_len = head_len.saturating_mul(4),
                checked => {
                    checked.map_err(|e| invalid(format!("unreadable payload: {e}")))?;
                    break head;
                }
            }
        };
        Self::parse_tensors(&head, file_len, |at| {
            read(HEADER_LEN + at.start..HEADER_LEN + at.end)
        })
    }

    /// The bundle's tensors taken out of it, owned and sorted by name, as
    /// [`Bundle::to_bytes`] writes them: to write the bundle again with
    /// another manifest. Fails if a pipeline still shares one.
    pub fn take_tensors(&mut self) -> Result<Vec<(String, QTensor)>> {
        let mut tensors = (std::mem::take(&mut self.tensors).into_iter())
            .map(|(name, tensor)| match std::sync::Arc::into_inner(tensor) {
                Some(tensor) => Ok((name, tensor)),
                None => Err(invalid(format!("tensor {name} is still in use"))),
            })
            .collect::<Result<Vec<_>>>()?;
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(tensors)
    }

    /// The classifier, the bundle's tensors moved into it (the returned
    /// bundle has none) and each matrix's blocks freed as it converts: in
    /// wasm, the load's peak never holds every matrix twice.
    pub fn build(mut self) -> Result<(Self, Pipeline)> {
        let tensors = std::mem::take(&mut self.tensors);
        let pipeline = self.pipeline_from(tensors)?;
        Ok((self, pipeline))
    }

    /// The contents of a GGUF `payload` (of a bundle file of `size` bytes).
    fn parse(payload: &[u8], size: usize) -> Result<Self> {
        gguf::check(payload, payload.len() as u64)
            .map_err(|e| invalid(format!("unreadable payload: {e}")))?;
        Self::parse_tensors(payload, size, |at| payload[at].to_vec())
    }

    /// The contents of a checked GGUF payload of which `head` is the
    /// beginning (its metadata and tensor list at least), each tensor's
    /// bytes got by `tensor_bytes` (a range of the payload).
    fn parse_tensors(
        head: &[u8],
        size: usize,
        mut tensor_bytes: impl FnMut(Range<usize>) -> Vec<u8>,
    ) -> Result<Self> {
        let content = gguf_file::Content::read(&mut Cursor::new(head))
            .map_err(|e| invalid(format!("unreadable payload: {e}")))?;
        let text = |key: &str| -> Result<String> {
            match content.metadata.get(key) {
                Some(Value::String(s)) => Ok(s.clone()),
                _ => Err(invalid(format!("no `{key}` entry"))),
            }
        };
        let manifest: Manifest = serde_json::from_str(&text(MANIFEST_KEY)?)
            .map_err(|e| invalid(format!("`{MANIFEST_KEY}`: {e}")))?;
        let config = Config::from_json(text(CONFIG_KEY)?.as_bytes())?;
        let tokenizer_json = text(TOKENIZER_KEY)?;
        let mut tensors = QTensors::new();
        // Largest first: each tensor is read into a buffer and then copied
        // into its blocks, so the word embeddings (half the payload) pass
        // through two copies while nothing else is held yet. Read last, they
        // set the load's peak of memory, which in wasm is never given back.
        let mut names: Vec<&String> = content.tensor_infos.keys().collect();
        names.sort_by_key(|name| std::cmp::Reverse(content.tensor_infos[*name].shape.elem_count()));
        for name in names {
            let info = &content.tensor_infos[name];
            // gguf::check has bounded every tensor's range by the payload.
            let start = (content.tensor_data_offset + info.offset) as usize;
            let len = info.shape.elem_count() / info.ggml_dtype.block_size()
                * info.ggml_dtype.type_size();
            let tensor = qtensor_from_ggml(
                info.ggml_dtype,
                &tensor_bytes(start..start + len),
                info.shape.dims().to_vec(),
                &Device::Cpu,
            )
            .map_err(|e| invalid(format!("tensor {name}: {e}")))?;
            tensors.insert(name.clone(), std::sync::Arc::new(tensor));
        }
        let bundle = Bundle {
            manifest,
            config,
            tokenizer_json,
            tensors,
            size,
        };
        bundle.check()?;
        Ok(bundle)
    }

    /// Checks that the manifest agrees with the config.
    fn check(&self) -> Result<()> {
        let labels = self.config.labels()?;
        if labels != self.manifest.labels {
            return Err(invalid(format!(
                "the manifest lists {} labels and the config {}; export the bundle again",
                self.manifest.labels.len(),
                labels.len()
            )));
        }
        if let Some(problem) = self.manifest.thresholds.mismatch(labels.len()) {
            return Err(invalid(format!("{problem}; export the bundle again")));
        }
        // A longer maximum would let one text make the model allocate
        // for a sequence it has no positions for.
        if self.manifest.max_length > self.config.max_position_embeddings {
            return Err(invalid(format!(
                "a maximum length of {} tokens, but the model has {} positions; export the bundle again",
                self.manifest.max_length, self.config.max_position_embeddings
            )));
        }
        Ok(())
    }

    /// Builds the classifier the bundle describes.
    pub fn pipeline(&self) -> Result<Pipeline> {
        self.pipeline_from(self.tensors.clone())
    }

    /// The classifier of this bundle's manifest, config and tokenizer over
    /// `tensors`.
    fn pipeline_from(&self, tensors: QTensors) -> Result<Pipeline> {
        let source = Source::quantized(tensors);
        // Side by side on rayon's threads: the tokenizer parses while the
        // matrices convert.
        let (model, tokenizer) = rayon::join(
            || Classifier::load(&source, &self.config),
            || TextEncoder::from_bytes(self.tokenizer_json.as_bytes(), self.manifest.max_length),
        );
        Ok(Pipeline {
            model: model?,
            tokenizer: tokenizer?,
            task: self.manifest.task,
            labels: self.manifest.labels.clone(),
            thresholds: self.manifest.thresholds.clone(),
        })
    }
}
