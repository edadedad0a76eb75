//! Phone numbers never appear unmasked in logs: anything that logs a customer's number goes
//! through [`Masked`].

use std::fmt;

/// Displays a phone number with its middle digits hidden: `13812345678` becomes `138****5678`.
/// Short or odd values keep at most their last two characters, so nothing identifying leaks.
#[derive(Debug, Clone, Copy)]
pub struct Masked<'a>(pub &'a str);

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chars: Vec<char> = self.0.chars().collect();
        let n = chars.len();
        if n >= 11 {
            let head: String = chars[..3].iter().collect();
            let tail: String = chars[n - 4..].iter().collect();
            write!(f, "{head}****{tail}")
        } else if n > 2 {
            let tail: String = chars[n - 2..].iter().collect();
            write!(f, "{}{tail}", "*".repeat(n - 2))
        } else {
            f.write_str(&"*".repeat(n))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Masked;

    #[test]
    fn hides_the_middle_of_a_mobile_number() {
        assert_eq!(Masked("13812345678").to_string(), "138****5678");
        assert_eq!(Masked("+8613812345678").to_string(), "+86****5678");
    }

    #[test]
    fn short_values_keep_only_two_characters() {
        assert_eq!(Masked("12345").to_string(), "***45");
        assert_eq!(Masked("12").to_string(), "**");
        assert_eq!(Masked("").to_string(), "");
    }
}
