//! The headline figures of a run, printed as one machine-readable line (`figures: name=value ...`)
//! after the text for people, so that `csm-bench compare` can set runs of two builds side by side.

/// Named figures of one run, in the order they were added.
#[derive(Debug, Default)]
pub struct Figures(Vec<(String, f64)>);

impl Figures {
    pub fn add(&mut self, name: &'static str, value: f64) {
        self.0.push((name.to_string(), value));
    }

    pub fn add_named(&mut self, name: String, value: f64) {
        self.0.push((name, value));
    }

    pub fn print(&self) {
        let parts: Vec<String> = self.0.iter().map(|(name, value)| format!("{name}={value:.4}")).collect();
        println!("figures: {}", parts.join(" "));
    }
}

/// The figures of every `figures:` line in a run's output, in order.
pub fn parse(output: &str) -> Vec<(String, f64)> {
    output
        .lines()
        .filter_map(|line| line.strip_prefix("figures: "))
        .flat_map(str::split_whitespace)
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_figures_read_back() {
        let output = "intake ...\n  CPU ...\nfigures: submissions_per_s=8022.5000 p99_ms=60.1000\n";
        assert_eq!(parse(output), vec![("submissions_per_s".into(), 8022.5), ("p99_ms".into(), 60.1)]);
        assert!(parse("no figures here").is_empty());
    }
}
