//! `.gitattributes` `export-ignore`, read from the commit's own tree (not
//! the work tree), as `git archive` reads it.

use globset::{GlobBuilder, GlobMatcher};

/// The `export-ignore` rules of one `.gitattributes` file.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The directory holding the file, `""` at the root, else `dir/`.
    base: String,
    /// Patterns in file order, with whether they set (true) or unset the
    /// attribute.
    rules: Vec<(Pattern, bool)>,
}

#[derive(Debug, Clone)]
enum Pattern {
    /// No slash: matches the name at any depth below the base.
    Name(GlobMatcher),
    /// A slash: matches the path relative to the base.
    Path(GlobMatcher),
}

impl Rules {
    /// The rules in `text`, a `.gitattributes` in directory `base`.
    pub fn parse(base: &str, text: &str) -> Self {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let Some(pattern) = words.next() else {
                continue;
            };
            let Some(set) = words.find_map(|attr| match attr {
                "export-ignore" => Some(true),
                "-export-ignore" | "!export-ignore" => Some(false),
                _ => None,
            }) else {
                continue;
            };
            // Like git, a directory's pattern may be written `dir/`.
            let trimmed = pattern.trim_end_matches('/');
            let anchored = trimmed.contains('/');
            // As in git, `*` stops at a slash and `**` crosses them.
            let Ok(glob) = GlobBuilder::new(trimmed.trim_start_matches('/'))
                .literal_separator(true)
                .build()
            else {
                continue;
            };
            let matcher = glob.compile_matcher();
            rules.push((
                if anchored {
                    Pattern::Path(matcher)
                } else {
                    Pattern::Name(matcher)
                },
                set,
            ));
        }
        Self {
            base: base.to_owned(),
            rules,
        }
    }

    /// Whether these rules decide `path` (relative to the repository root):
    /// `Some(true)` when the last matching rule sets export-ignore.
    pub fn decide(&self, path: &str) -> Option<bool> {
        let relative = path.strip_prefix(&self.base)?;
        let name = relative.rsplit('/').next().unwrap_or(relative);
        self.rules
            .iter()
            .rev()
            .find(|(pattern, _)| match pattern {
                Pattern::Name(m) => m.is_match(name),
                Pattern::Path(m) => m.is_match(relative),
            })
            .map(|(_, set)| *set)
    }
}

/// Whether `path` is export-ignored under `stack` (outermost first): the
/// deepest file that decides wins.
pub fn ignored(stack: &[Rules], path: &str) -> bool {
    stack
        .iter()
        .rev()
        .find_map(|rules| rules.decide(path))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_pattern_matches_at_any_depth_and_a_path_pattern_only_from_its_base() {
        let root = Rules::parse(
            "",
            "*.md export-ignore\n/tests export-ignore\nci/*.yml export-ignore\n",
        );
        assert!(ignored(std::slice::from_ref(&root), "docs/a.md"));
        assert!(ignored(std::slice::from_ref(&root), "tests"));
        assert!(!ignored(std::slice::from_ref(&root), "app/tests"));
        assert!(ignored(std::slice::from_ref(&root), "ci/build.yml"));
        assert!(!ignored(std::slice::from_ref(&root), "app.py"));
    }

    #[test]
    fn a_deeper_file_and_a_later_line_win() {
        let root = Rules::parse("", "*.md export-ignore\nKEEP.md -export-ignore\n");
        let docs = Rules::parse("docs/", "*.md -export-ignore\n");
        let stack = [root, docs];
        assert!(!ignored(&stack, "KEEP.md"));
        assert!(ignored(&stack, "x.md"));
        assert!(!ignored(&stack, "docs/x.md"));
    }
}
