//! The small languages inside an appspec's permissions: modes, ACL entries
//! and SELinux ranges. Each parser accepts exactly what the official agent
//! accepts and says why it refuses the rest.

use std::fmt;

/// A permission mode: one to four octal digits, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mode(String);

impl Mode {
    /// Parses the digits of a mode.
    pub fn parse(digits: &str) -> Result<Mode, String> {
        if digits.is_empty() || digits.len() > 4 {
            return Err(format!(
                "mode `{digits}` must have one to four octal digits"
            ));
        }
        if let Some(bad) = digits.chars().find(|c| !('0'..='7').contains(c)) {
            return Err(format!(
                "mode `{digits}` has `{bad}`, which is not an octal digit"
            ));
        }
        Ok(Mode(format!("{digits:0>3}")))
    }

    /// The mode as a number, for chmod.
    pub fn bits(&self) -> u32 {
        u32::from_str_radix(&self.0, 8).unwrap_or(0)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who an ACL entry is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AceKind {
    /// A named user.
    User,
    /// A named group.
    Group,
    /// The mask.
    Mask,
    /// Everyone else.
    Other,
}

/// One ACL entry: `[d[efault]:][u[ser]|g[roup]|m[ask]|o[ther]:]name:perms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ace {
    /// A default entry, inherited by new children of a directory.
    pub default: bool,
    /// Who it is for.
    pub kind: AceKind,
    /// The user or group; empty for the mask and other.
    pub name: String,
    /// Read.
    pub read: bool,
    /// Write.
    pub write: bool,
    /// Execute.
    pub execute: bool,
}

impl Ace {
    /// Parses one ACL entry as the agent does.
    pub fn parse(entry: &str) -> Result<Ace, String> {
        let invalid = || format!("invalid ACL entry `{entry}`");
        let parts: Vec<&str> = entry.split(':').rev().collect();
        if !(2..=4).contains(&parts.len()) {
            return Err(invalid());
        }
        let is_default = |s: &str| s == "d" || s == "default";
        let mut default = false;
        if parts.len() == 4 {
            if !is_default(parts[3]) {
                return Err(invalid());
            }
            default = true;
        }
        let mut kind = None;
        if parts.len() >= 3 {
            match parts[2] {
                s if is_default(s) => {
                    if default {
                        return Err(invalid());
                    }
                    default = true;
                }
                s => kind = Some(kind_of(s).ok_or_else(invalid)?),
            }
        }
        // The second field from the end is the name, except that a bare
        // `m`/`o` there names the kind when no kind field came before it.
        let mut name = parts[1].to_owned();
        let bare = match parts[1] {
            "m" | "mask" => Some((AceKind::Mask, "mask")),
            "o" | "other" => Some((AceKind::Other, "other")),
            _ => None,
        };
        let kind = match (bare, kind) {
            (Some((k, _)), None) => {
                name.clear();
                k
            }
            (Some((_, full)), Some(k)) => {
                name = full.to_owned();
                k
            }
            (None, k) => k.unwrap_or(AceKind::User),
        };
        if matches!(kind, AceKind::Mask | AceKind::Other) && !name.is_empty() {
            return Err(invalid());
        }
        if !default && kind != AceKind::Mask && name.is_empty() {
            return Err(format!(
                "ACL entry `{entry}` names no user or group; set the base entries with `mode`"
            ));
        }
        let perms = parts[0];
        let (read, write, execute) = match perms.as_bytes() {
            [d @ b'0'..=b'7'] => {
                let bits = d - b'0';
                (bits & 4 != 0, bits & 2 != 0, bits & 1 != 0)
            }
            _ => {
                let mut rwx = (false, false, false);
                for c in perms.chars() {
                    match c {
                        'r' => rwx.0 = true,
                        'w' => rwx.1 = true,
                        'x' => rwx.2 = true,
                        '-' => {}
                        other => {
                            return Err(format!(
                                "ACL entry `{entry}` has `{other}` in its permissions (use r, w, x, - or one octal digit)"
                            ));
                        }
                    }
                }
                rwx
            }
        };
        Ok(Ace {
            default,
            kind,
            name,
            read,
            write,
            execute,
        })
    }
}

fn kind_of(s: &str) -> Option<AceKind> {
    match s {
        "u" | "user" => Some(AceKind::User),
        "g" | "group" => Some(AceKind::Group),
        "m" | "mask" => Some(AceKind::Mask),
        "o" | "other" => Some(AceKind::Other),
        _ => None,
    }
}

/// An SELinux MLS/MCS range: `s#[-s#][:c#[.c#](,c#[.c#])*]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelinuxRange(String);

impl SelinuxRange {
    /// Parses a range as the agent does.
    pub fn parse(range: &str) -> Result<SelinuxRange, String> {
        let invalid = |why: &str| format!("invalid SELinux range `{range}`: {why}");
        let (levels, categories) = match range.split_once(':') {
            Some((l, c)) => (l, Some(c)),
            None => (range, None),
        };
        let (low, high) = match levels.split_once('-') {
            Some((l, h)) => (l, Some(h)),
            None => (levels, None),
        };
        let low =
            number(low, 's').ok_or_else(|| invalid("a sensitivity is s followed by digits"))?;
        if let Some(high) = high {
            let high = number(high, 's')
                .ok_or_else(|| invalid("a sensitivity is s followed by digits"))?;
            if high < low {
                return Err(invalid("the high sensitivity is below the low one"));
            }
        }
        if let Some(categories) = categories {
            let mut seen = Vec::new();
            for part in categories.split(',') {
                let category = |c: &str| {
                    number(c, 'c')
                        .filter(|n| *n <= 1023)
                        .ok_or_else(|| invalid("a category is c0 to c1023"))
                };
                match part.split_once('.') {
                    Some((a, b)) => {
                        let (a, b) = (category(a)?, category(b)?);
                        if b < a {
                            return Err(invalid("a category range runs backwards"));
                        }
                        seen.extend(a..=b);
                    }
                    None => seen.push(category(part)?),
                }
            }
            let count = seen.len();
            seen.sort_unstable();
            seen.dedup();
            if seen.len() != count {
                return Err(invalid("a category is listed twice"));
            }
        }
        Ok(SelinuxRange(range.to_owned()))
    }
}

impl fmt::Display for SelinuxRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The number after `prefix`, when `s` is the prefix and at least one digit.
fn number(s: &str, prefix: char) -> Option<u64> {
    let digits = s.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_one_to_four_octal_digits() {
        assert_eq!(Mode::parse("644").unwrap().bits(), 0o644);
        assert_eq!(Mode::parse("4755").unwrap().bits(), 0o4755);
        assert_eq!(Mode::parse("7").unwrap().to_string(), "007");
        assert!(Mode::parse("0644x").is_err());
        assert!(Mode::parse("12345").is_err());
        assert!(Mode::parse("680").unwrap_err().contains("`8`"));
    }

    #[test]
    fn documented_acl_entries_parse() {
        let a = Ace::parse("u:bob:rw").unwrap();
        assert_eq!(
            (a.kind, a.name.as_str(), a.read, a.write, a.execute),
            (AceKind::User, "bob", true, true, false)
        );
        let d = Ace::parse("d:g:writers:rw").unwrap();
        assert!(d.default);
        assert_eq!(d.kind, AceKind::Group);
        let m = Ace::parse("m::5").unwrap();
        assert_eq!((m.kind, m.read, m.execute), (AceKind::Mask, true, true));
        assert_eq!(Ace::parse("bob:7").unwrap().kind, AceKind::User);
        assert!(Ace::parse("d:u::rwx").unwrap().default);
    }

    #[test]
    fn bad_acl_entries_are_refused() {
        assert!(Ace::parse("rw").is_err());
        assert!(Ace::parse("x:bob:rw").is_err());
        assert!(Ace::parse("u:bob:rq").unwrap_err().contains("`q`"));
        assert!(Ace::parse("u::rw").unwrap_err().contains("mode"));
        assert!(Ace::parse("a:b:c:d:e").is_err());
    }

    #[test]
    fn selinux_ranges_follow_the_agent() {
        assert!(SelinuxRange::parse("s0").is_ok());
        assert!(SelinuxRange::parse("s0-s3:c0,c2.c5").is_ok());
        assert!(SelinuxRange::parse("s3-s0").is_err());
        assert!(SelinuxRange::parse("s0:c1024").is_err());
        assert!(
            SelinuxRange::parse("s0:c1,c0.c2")
                .unwrap_err()
                .contains("twice")
        );
        assert!(SelinuxRange::parse("t0").is_err());
    }
}
