//! The library's one error type: every failure a caller can act on, with the
//! file, field or limit that caused it.

use std::path::PathBuf;

/// Everything that can go wrong while loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `config.json` that parses but describes no valid model.
    #[error("invalid model config: {0}")]
    Config(String),

    /// A `config.json` (or other JSON input) that does not parse.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),

    /// A checkpoint whose tensors do not fit the model its config describes.
    #[error("invalid weights: {0}")]
    Weights(String),

    /// `tokenizer.json` could not be loaded or a text could not be encoded.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// A tensor operation failed (usually a shape that does not fit).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    /// A dataset file that cannot be used as it is, with the line at fault.
    #[error("{}:{line}: {problem}", path.display())]
    DataLine {
        path: PathBuf,
        line: u64,
        problem: String,
    },

    /// A dataset file that cannot be used at all (empty, wrong columns).
    #[error("{}: {problem}", path.display())]
    DataFile { path: PathBuf, problem: String },

    /// A table (CSV) file that holds no rows to read: empty, or not text.
    #[error("{0}")]
    Table(String),

    /// A model folder or training checkpoint that is missing a file or does
    /// not fit the run (wrong labels, wrong settings).
    #[error("{}: {problem}", path.display())]
    Model { path: PathBuf, problem: String },

    /// Training settings that cannot work, named by their flag, or a run
    /// they made diverge.
    #[error("invalid setting {0}")]
    Setting(String),

    /// A request the model cannot answer as asked (an unknown genre, say).
    #[error("{0}")]
    Input(String),

    /// A model bundle that is not one, is damaged or has another format version.
    #[error("invalid bundle: {0}")]
    Bundle(String),

    /// A chart of the training report could not be drawn.
    #[error("chart: {0}")]
    Chart(String),

    /// A file could not be read or written. The message holds the OS error,
    /// which is therefore no `source`: error chains would say it twice.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error,
        }
    }
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, Error>;
