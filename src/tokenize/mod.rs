//! Text to model input: the `tokenizers` crate's WordPiece pipeline loaded
//! from a `tokenizer.json`, with truncation to the model's maximum length and
//! padding to the longest text of each batch.

use candle_core::{Device, Tensor};
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::{
    DecoderWrapper, Encoding, ModelWrapper, NormalizerWrapper, PaddingParams, PaddingStrategy,
    PostProcessorWrapper, PreTokenizerWrapper, Tokenizer, TokenizerImpl, TruncationParams,
};

mod screen;

use crate::language::WordPieces;
use crate::{Error, Result};

/// Maximum tokens per text unless configured otherwise (`[CLS]` and `[SEP]` included).
pub const DEFAULT_MAX_LENGTH: usize = 128;
/// Bytes of a long text tokenized per token the model reads (English plots
/// average about 6): a longer text is first cut to this many.
const PREFIX_BYTES_PER_TOKEN: usize = 32;
/// How much longer the prefix gets when a cut holds too few tokens.
const PREFIX_GROWTH: usize = 8;

/// Token ids and attention masks of a batch, padded to its longest text.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `(batch, seq)` u32 token ids.
    pub input_ids: Tensor,
    /// `(batch, seq)` u32, 1 = real token, 0 = padding.
    pub attention_mask: Tensor,
    /// Real tokens of each text.
    pub lengths: Vec<usize>,
    /// Whether each text was cut to the maximum length.
    pub truncated: Vec<bool>,
    /// How WordPiece cut each text's words (what `language::assess` judges).
    pub pieces: Vec<WordPieces>,
    /// The byte length of each text's part the model reads.
    pub read_bytes: Vec<usize>,
}

/// A WordPiece tokenizer configured for one model.
#[derive(Clone)]
pub struct TextEncoder {
    tokenizer: Tokenizer,
    max_length: usize,
    /// The vocabulary's unknown-word token, if it has one.
    unknown_id: Option<u32>,
    /// Cutting a text at ASCII whitespace keeps the tokens before the cut.
    cuts_at_whitespace: bool,
}

impl std::fmt::Debug for TextEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextEncoder")
            .field("vocab_size", &self.tokenizer.get_vocab_size(true))
            .field("max_length", &self.max_length)
            .finish()
    }
}

impl TextEncoder {
    /// Loads `tokenizer.json` bytes; texts are cut to `max_length` tokens.
    pub fn from_bytes(tokenizer_json: &[u8], max_length: usize) -> Result<Self> {
        if max_length < 2 {
            return Err(Error::Tokenizer(format!(
                "max length {max_length} leaves no room for [CLS] and [SEP]; use at least 2"
            )));
        }
        let invalid = |e: &dyn std::fmt::Display| {
            Error::Tokenizer(format!("not a valid tokenizer.json: {e}"))
        };
        screen::screen(tokenizer_json).map_err(|e| invalid(&e))?;
        let mut tokenizer = parse_tokenizer(tokenizer_json).map_err(|e| invalid(&e))?;
        let pad_token = tokenizer
            .get_padding()
            .map(|p| p.pad_token.clone())
            .unwrap_or_else(|| "[PAD]".to_string());
        let pad_id = tokenizer.token_to_id(&pad_token).ok_or_else(|| {
            Error::Tokenizer(format!("the vocabulary has no padding token {pad_token:?}"))
        })?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length,
                ..Default::default()
            }))
            .map_err(|e| Error::Tokenizer(format!("cannot truncate to {max_length}: {e}")))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id,
            pad_token,
            ..Default::default()
        }));
        Ok(Self {
            cuts_at_whitespace: cuts_at_whitespace(&tokenizer),
            unknown_id: unknown_id(&tokenizer),
            tokenizer,
            max_length,
        })
    }

    /// The maximum tokens per text.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// How much of `text` the model reads: the byte offset where its last
    /// read token ends, and whether the text goes on after it.
    pub fn read_extent(&self, text: &str) -> Result<(usize, bool)> {
        let encoding = self
            .tokenizer
            .encode(self.readable(text)?, true)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok((read_end(&encoding), !encoding.get_overflowing().is_empty()))
    }

    /// Encodes texts into one padded batch on the CPU.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Batch> {
        if texts.is_empty() {
            return Err(Error::Tokenizer("cannot encode an empty batch".into()));
        }
        let readable = texts
            .iter()
            .map(|text| self.readable(text))
            .collect::<Result<Vec<_>>>()?;
        let encodings = self
            .tokenizer
            .encode_batch(readable.clone(), true)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let seq = encodings[0].len();
        let ids: Vec<u32> = encodings
            .iter()
            .flat_map(|e| e.get_ids().to_vec())
            .collect();
        let mask: Vec<u32> = encodings
            .iter()
            .flat_map(|e| e.get_attention_mask().to_vec())
            .collect();
        let lengths = encodings
            .iter()
            .map(|e| e.get_attention_mask().iter().filter(|&&m| m == 1).count())
            .collect();
        let truncated = encodings
            .iter()
            .map(|e| !e.get_overflowing().is_empty())
            .collect();
        let read_bytes: Vec<usize> = encodings.iter().map(read_end).collect();
        let pieces = encodings
            .iter()
            .zip(&readable)
            .map(|(e, text)| word_pieces(e, text, self.unknown_id))
            .collect();
        let shape = (texts.len(), seq);
        Ok(Batch {
            input_ids: Tensor::from_vec(ids, shape, &Device::Cpu)?,
            attention_mask: Tensor::from_vec(mask, shape, &Device::Cpu)?,
            lengths,
            truncated,
            pieces,
            read_bytes,
        })
    }

    /// The part of `text` worth tokenizing: all of it, or for a long text a
    /// prefix ending at whitespace that already holds more tokens than the
    /// model reads, so that its tokens and truncation flag are exactly the
    /// whole text's. Tokenizing a megabyte costs far more than the few
    /// kilobytes the model reads.
    fn readable<'t>(&self, text: &'t str) -> Result<&'t str> {
        if !self.cuts_at_whitespace {
            return Ok(text);
        }
        let mut budget = self.max_length.saturating_mul(PREFIX_BYTES_PER_TOKEN);
        while budget < text.len() {
            if let Some(prefix) = whitespace_prefix(text, budget) {
                let encoding = self
                    .tokenizer
                    .encode(prefix, true)
                    .map_err(|e| Error::Tokenizer(e.to_string()))?;
                if !encoding.get_overflowing().is_empty() {
                    return Ok(prefix);
                }
            }
            budget = budget.saturating_mul(PREFIX_GROWTH);
        }
        Ok(text)
    }
}

/// The byte offset where the last token of `encoding` ends.
fn read_end(encoding: &Encoding) -> usize {
    let ends = encoding.get_offsets().iter().map(|&(_, end)| end);
    ends.max().unwrap_or(0)
}

/// The id of the tokenizer's unknown-word token (WordPiece's `unk_token`, else `[UNK]`).
fn unknown_id(tokenizer: &Tokenizer) -> Option<u32> {
    let name = match tokenizer.get_model() {
        ModelWrapper::WordPiece(model) => model.unk_token.clone(),
        _ => "[UNK]".to_string(),
    };
    tokenizer.token_to_id(&name)
}

/// Counts the words of `encoding` with a letter, and those WordPiece cut into
/// several tokens or read as unknown (`text` is what was encoded).
fn word_pieces(encoding: &Encoding, text: &str, unknown_id: Option<u32>) -> WordPieces {
    let mut counts = WordPieces::default();
    let tokens = encoding.get_word_ids().iter().zip(encoding.get_ids());
    let mut tokens = tokens.zip(encoding.get_offsets()).peekable();
    while let Some(((word, &id), &(start, mut end))) = tokens.next() {
        let Some(word) = word else { continue };
        let mut pieced = Some(id) == unknown_id;
        while let Some(((next, _), (_, next_end))) = tokens.peek() {
            if **next != Some(*word) {
                break;
            }
            pieced = true;
            end = end.max(*next_end);
            tokens.next();
        }
        if text
            .get(start..end)
            .is_some_and(|w| w.chars().any(char::is_alphabetic))
        {
            counts.words += 1;
            counts.pieced += usize::from(pieced);
        }
    }
    counts
}

/// A tokenizer.json with a WordPiece model, parsed as that model.
type WordPieceTokenizer = TokenizerImpl<
    WordPiece,
    NormalizerWrapper,
    PreTokenizerWrapper,
    PostProcessorWrapper,
    DecoderWrapper,
>;

/// Parses a screened tokenizer.json: a WordPiece model (every BERT-family
/// tokenizer) straight into its vocabulary, any other model through the
/// `tokenizers` crate's own path, which first buffers the whole model (the
/// 30,000-entry vocabulary included) as a `serde_json::Value`: about 15 ms
/// against 32 of every load in wasm (node, single-thread build).
fn parse_tokenizer(json: &[u8]) -> tokenizers::Result<Tokenizer> {
    match serde_json::from_slice::<WordPieceTokenizer>(json) {
        Ok(word_piece) => Ok(word_piece.into()),
        Err(_) => Tokenizer::from_bytes(json),
    }
}

/// Whether cutting a text just before ASCII whitespace leaves every token
/// before the cut unchanged: so with BERT's normalizer (or none), a
/// pre-tokenizer that splits words at whitespace, and no added token
/// that contains whitespace.
fn cuts_at_whitespace(tokenizer: &Tokenizer) -> bool {
    let normalizer = matches!(
        tokenizer.get_normalizer(),
        None | Some(NormalizerWrapper::BertNormalizer(_))
    );
    let pre_tokenizer = matches!(
        tokenizer.get_pre_tokenizer(),
        Some(
            PreTokenizerWrapper::BertPreTokenizer(_)
                | PreTokenizerWrapper::Whitespace(_)
                | PreTokenizerWrapper::WhitespaceSplit(_)
        )
    );
    let added = tokenizer
        .get_added_tokens_decoder()
        .values()
        .all(|token| !token.content.contains(char::is_whitespace));
    normalizer && pre_tokenizer && added
}

/// The longest prefix of `text` within `budget` bytes that ends just before
/// an ASCII space, tab or line break; searching bytes is safe as UTF-8 never
/// encodes other characters with ASCII bytes.
fn whitespace_prefix(text: &str, budget: usize) -> Option<&str> {
    let window = &text.as_bytes()[..budget.min(text.len())];
    let end = window
        .iter()
        .rposition(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))?;
    Some(&text[..end])
}

/// Replaces every run of Unicode whitespace with one space and trims, so that
/// every implementation hashes the same text.
pub fn normalize_text(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text a model reads for a plot and an optional title: `"Title. plot"`,
/// exactly the form of the `movies` training data (EVALUATION.md).
pub fn model_input(title: Option<&str>, plot: &str) -> String {
    match title {
        Some(title) => format!("{}. {plot}", normalize_text(title)),
        None => plot.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_piece_tokenizer_parses_as_the_generic_path_reads_it() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tokenizer.json");
        let json = std::fs::read(path).expect("the fixture tokenizer.json");
        let direct = parse_tokenizer(&json).expect("a WordPiece tokenizer");
        let generic = Tokenizer::from_bytes(&json).expect("the generic path");
        assert!(matches!(direct.get_model(), ModelWrapper::WordPiece(_)));
        assert_eq!(
            direct.to_string(false).expect("serialisable"),
            generic.to_string(false).expect("serialisable")
        );
    }

    #[test]
    fn a_tokenizer_with_another_model_still_parses() {
        let json = br#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
            "normalizer":null,"pre_tokenizer":null,"post_processor":null,"decoder":null,
            "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,
            "end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":false,
            "vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]]}}"#;
        let tokenizer = parse_tokenizer(json).expect("a BPE tokenizer");
        assert!(matches!(tokenizer.get_model(), ModelWrapper::BPE(_)));
        assert_eq!(tokenizer.token_to_id("ab"), Some(2));
    }
}
