//! Whether a text looks like the English plots the model learned from: a
//! script check on the letters the model read and a vocabulary check on how
//! WordPiece cut its words, so that a plot in another language gets a warning
//! next to its genres instead of a silent, confident guess.

use serde::Serialize;

/// Below this share of Latin letters a text is in another script.
const MIN_LATIN_SHARE: f32 = 0.5;
/// Above this share of words cut into pieces (or unknown), a Latin-script
/// text is mostly not English: English plots stay under it (see
/// `tests/suite/language.rs` for the measured shares).
const MAX_PIECED_SHARE: f32 = 0.35;
/// Fewer words than this say too little to judge the vocabulary.
const MIN_WORDS: usize = 8;

/// How WordPiece cut the words of one text (punctuation and digits aside).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WordPieces {
    /// Words with at least one letter.
    pub words: usize,
    /// Of those, words cut into several pieces or read as unknown.
    pub pieced: usize,
}

impl WordPieces {
    /// The share of words WordPiece did not find whole in its vocabulary.
    pub fn pieced_share(&self) -> f32 {
        match self.words {
            0 => 0.0,
            words => self.pieced as f32 / words as f32,
        }
    }
}

/// Why a text looks unlike the English plots the model was trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unfamiliar {
    /// Most letters are not Latin (Arabic, Cyrillic, Chinese, ...).
    Script,
    /// Latin letters, but most words are not English ones.
    Vocabulary,
}

impl Unfamiliar {
    /// What a reader of the result should know, in one sentence.
    pub fn message(self) -> &'static str {
        match self {
            Unfamiliar::Script => {
                "This text is mostly not in the Latin alphabet: the model reads English plots, so these genres are likely wrong."
            }
            Unfamiliar::Vocabulary => {
                "This text does not look like English: the model reads English plots, so these genres may be wrong."
            }
        }
    }
}

/// Judges the part of a text the model read (`read`) and how its words were cut.
pub fn assess(read: &str, pieces: WordPieces) -> Option<Unfamiliar> {
    let letters = read.chars().filter(|c| c.is_alphabetic());
    let (latin, total) = letters.fold((0usize, 0usize), |(latin, total), c| {
        (latin + usize::from(is_latin(c)), total + 1)
    });
    if total > 0 && (latin as f32) < MIN_LATIN_SHARE * total as f32 {
        return Some(Unfamiliar::Script);
    }
    (pieces.words >= MIN_WORDS && pieces.pieced_share() > MAX_PIECED_SHARE)
        .then_some(Unfamiliar::Vocabulary)
}

/// Basic Latin, Latin-1, Latin Extended-A/B and Latin Extended Additional letters.
fn is_latin(c: char) -> bool {
    matches!(c, 'a'..='z' | 'A'..='Z' | '\u{C0}'..='\u{24F}' | '\u{1E00}'..='\u{1EFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENGLISH: WordPieces = WordPieces {
        words: 40,
        pieced: 4,
    };

    #[test]
    fn scripts_are_told_apart_by_their_letters() {
        assert_eq!(assess("A thief plans one last heist.", ENGLISH), None);
        assert_eq!(
            assess("Вор планирует последнее ограбление.", ENGLISH),
            Some(Unfamiliar::Script)
        );
        assert_eq!(
            assess("一个小偷计划最后一次抢劫。", ENGLISH),
            Some(Unfamiliar::Script)
        );
    }

    #[test]
    fn many_pieced_words_mean_another_language() {
        let french = WordPieces {
            words: 40,
            pieced: 20,
        };
        assert_eq!(assess("Un voleur", french), Some(Unfamiliar::Vocabulary));
        let short = WordPieces {
            words: 4,
            pieced: 4,
        };
        assert_eq!(assess("Zorg ate", short), None);
    }
}
