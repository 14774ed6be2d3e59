//! "Did you mean": the known word a typo is closest to.

/// The allowed word closest to `word`, if it is close enough to be a typo.
pub(super) fn did_you_mean<'a>(word: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    allowed
        .iter()
        .map(|a| (strsim::levenshtein(&lower, &a.to_ascii_lowercase()), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

/// `a`, `b`, `c` as a list of code words.
pub(super) fn list_words(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_suggested_and_strangers_are_not() {
        let events = ["AfterInstall", "BeforeInstall", "ApplicationStart"];
        assert_eq!(did_you_mean("AfterInstal", &events), Some("AfterInstall"));
        assert_eq!(did_you_mean("afterinstall", &events), Some("AfterInstall"));
        assert_eq!(did_you_mean("CustomEvent", &events), None);
        assert_eq!(did_you_mean("hoks", &["hooks", "files"]), Some("hooks"));
    }
}
