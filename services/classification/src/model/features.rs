//! Text to features without a word segmenter. Chinese has no spaces between words, so CJK
//! characters give character 1- to 3-grams; the n-grams run across digits, Latin words and
//! punctuation (a number counts as one symbol, a word as one, punctuation as nothing), so
//! "多扣了50元" yields 了#元 and "用wifi上网" yields 用wifi上 rather than breaking at each. Latin-script
//! text gives word unigrams and bigrams plus character 3- to 5-grams inside each word, which
//! tolerate typos and inflections ("overcharged", "overcharging"). Each n-gram is reduced to a 64-bit hash, so featurising
//! allocates nothing per n-gram and a vocabulary stores numbers, not strings.

use std::hash::{BuildHasherDefault, Hasher};

/// Appends the hash of every n-gram of `text` to `out`.
pub fn ngrams(text: &str, out: &mut Vec<u64>) {
    let mut in_word = Vec::new();
    featurise(text, out, &mut in_word);
    out.extend(in_word);
}

/// Appends the hashes of `text`'s n-grams to `out`, those of in-word character n-grams to
/// `in_word`, so that training can weigh that kind apart.
pub fn featurise(text: &str, out: &mut Vec<u64>, in_word: &mut Vec<u64>) {
    let chars: Vec<char> = text.chars().map(normalise).collect();
    let mut previous_word: Option<u64> = None;
    // The symbols CJK n-grams run over: each CJK character, each number, each Latin word.
    let mut symbols: Vec<Symbol> = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        let end = run_end(&chars, at);
        if is_cjk(c) {
            symbols.extend(chars[at..end].iter().map(|&c| Symbol::Cjk(c)));
            previous_word = None;
        } else if c.is_numeric() && chars[at..end].iter().all(|c| c.is_numeric()) {
            symbols.push(Symbol::Other(NUMBER));
            previous_word = None;
        } else if c.is_alphanumeric() {
            let word = &chars[at..end];
            let word_hash = hash_chars(WORD, word);
            out.push(word_hash);
            if let Some(previous) = previous_word {
                out.push(mix(previous, word_hash) ^ BIGRAM);
            }
            previous_word = Some(word_hash);
            word_char_ngrams(word, in_word);
            symbols.push(Symbol::Other(word_hash));
        }
        at = end;
    }
    cjk_ngrams(&symbols, out);
}

/// One symbol of the sequence CJK n-grams run over: a CJK character, or a number or word (its
/// hash).
#[derive(Debug, Clone, Copy)]
enum Symbol {
    Cjk(char),
    Other(u64),
}

/// Kind seeds keep a character n-gram apart from a word with the same letters.
const CJK: u64 = 0x9e37_79b9_7f4a_7c15;
const WORD: u64 = 0xc2b2_ae3d_27d4_eb4f;
const BIGRAM: u64 = 0x1656_67b1_9e37_79f9;
const IN_WORD: u64 = 0x27d4_eb2f_1656_67c5;
/// Any number, inside a CJK n-gram.
const NUMBER: u64 = 0x85eb_ca77_c2b2_ae63;

fn run_end(chars: &[char], start: usize) -> usize {
    let kind = |c: char| {
        if is_cjk(c) {
            1
        } else if c.is_alphanumeric() {
            2
        } else {
            0
        }
    };
    let first = kind(chars[start]);
    chars[start..].iter().position(|&c| kind(c) != first).map_or(chars.len(), |n| start + n)
}

/// 1- to 3-grams of the symbols that hold a CJK character: CJK unigrams, and longer n-grams
/// with at least one CJK character in them (an n-gram of words alone is left to the word
/// features).
fn cjk_ngrams(symbols: &[Symbol], out: &mut Vec<u64>) {
    for start in 0..symbols.len() {
        let mut hash = CJK;
        let mut any_cjk = false;
        for (n, symbol) in symbols[start..].iter().take(3).enumerate() {
            // Characters fold in as they always have, so an n-gram of characters alone keeps the
            // hash models trained before numbers and words joined the run still know.
            hash = match *symbol {
                Symbol::Cjk(c) => step(hash, c),
                Symbol::Other(other) => mix(hash, other),
            };
            let cjk = matches!(symbol, Symbol::Cjk(_));
            any_cjk |= cjk;
            if any_cjk && (n > 0 || cjk) {
                out.push(hash ^ n as u64);
            }
        }
    }
}

fn word_char_ngrams(word: &[char], out: &mut Vec<u64>) {
    if word.len() < 3 {
        return;
    }
    let padded: Vec<char> = std::iter::once('<').chain(word.iter().copied()).chain(std::iter::once('>')).collect();
    for start in 0..padded.len() {
        let mut hash = IN_WORD;
        for (n, &c) in padded[start..].iter().take(5).enumerate() {
            hash = step(hash, c);
            if n >= 2 {
                out.push(hash ^ n as u64);
            }
        }
    }
}

fn hash_chars(seed: u64, chars: &[char]) -> u64 {
    chars.iter().fold(seed, |hash, &c| step(hash, c))
}

/// FNV-1a over the character, finished so that similar prefixes spread over the whole range.
fn step(hash: u64, c: char) -> u64 {
    (hash ^ u64::from(u32::from(c))).wrapping_mul(0x0100_0000_01b3).rotate_left(29)
}

fn mix(a: u64, b: u64) -> u64 {
    (a.rotate_left(17) ^ b).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Lower case, and full-width ASCII (common in Chinese input) folded to ASCII.
fn normalise(c: char) -> char {
    let c = match u32::from(c) {
        0xFF01..=0xFF5E => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        0x3000 => ' ',
        _ => c,
    };
    if c.is_uppercase() { c.to_lowercase().next().unwrap_or(c) } else { c }
}

fn is_cjk(c: char) -> bool {
    matches!(u32::from(c), 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// A hasher for keys that are already hashes.
#[derive(Debug, Default, Clone, Copy)]
pub struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub type PrehashedMap<V> = std::collections::HashMap<u64, V, BuildHasherDefault<Prehashed>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn grams(text: &str) -> Vec<u64> {
        let mut out = Vec::new();
        ngrams(text, &mut out);
        out
    }

    #[test]
    fn chinese_runs_give_one_to_three_grams() {
        // 4 unigrams, 3 bigrams, 2 trigrams.
        assert_eq!(grams("宽带断网").len(), 9);
        assert_eq!(grams("宽带断网"), grams("宽带断网！"));
    }

    #[test]
    fn character_ngrams_hash_as_they_did_before_numbers_and_words_joined_the_run() {
        // How 1- to 3-grams of a run of characters were hashed when runs stopped at anything
        // else: models trained then still find their features.
        let earlier = |run: &[char]| {
            let mut out = Vec::new();
            for start in 0..run.len() {
                let mut hash = CJK;
                for (n, &c) in run[start..].iter().take(3).enumerate() {
                    hash = step(hash, c);
                    out.push(hash ^ n as u64);
                }
            }
            out
        };
        let run: Vec<char> = "宽带断网".chars().collect();
        assert_eq!(grams("宽带断网"), earlier(&run));
    }

    #[test]
    fn chinese_ngrams_run_across_numbers_words_and_punctuation() {
        let shared = |a: &str, b: &str| grams(a).iter().filter(|g| grams(b).contains(g)).count();
        // Any amount is the same symbol, so 扣了#元 is shared whatever the number.
        assert!(shared("多扣了50元", "多扣了128元") > shared("多扣了50元", "多扣了元"));
        // Punctuation does not cut the run: 信号差，打 gives the bigram 差打.
        assert_eq!(grams("信号差，打不通").len(), grams("信号差打不通").len());
        assert!(grams("用wifi上网").len() > grams("用上网").len());
    }

    #[test]
    fn english_words_share_features_across_inflections_and_case() {
        let a = grams("Overcharged");
        let b = grams("overcharging");
        assert_eq!(a, grams("OVERCHARGED"));
        assert!(a.iter().filter(|g| b.contains(g)).count() >= 8);
    }

    #[test]
    fn full_width_letters_fold_to_ascii() {
        assert_eq!(grams("ＳＭＳ"), grams("sms"));
    }
}
