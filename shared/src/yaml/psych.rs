//! How Ruby's Psych 4 types a plain (unquoted) scalar: YAML 1.1 with
//! Psych's own quirks. The official agent reads every appspec with it, so
//! `yes` is true, `y` is the string "y", `0644` is 420, `1:30` is 5400 and
//! `0e0` is a string, whatever a YAML 1.2 reader makes of them.
//!
//! Written from Psych's documented behaviour and checked against Ruby 3.1's
//! Psych 4.0.3 (`YAML.load`) by the differential corpus in
//! `tests/fixtures/appspec`.

/// What Psych makes of a plain scalar.
#[derive(Debug, Clone, PartialEq)]
pub enum Plain {
    /// `~`, `null` (any case) or nothing.
    Null,
    /// `yes`/`true`/`on`, `no`/`false`/`off`, any case.
    Bool(bool),
    /// Decimal, octal (`0644`), hex (`0x1a4`), binary (`0b1`) or
    /// sexagesimal (`1:30`); `_` and `,` are ignored.
    Int(i128),
    /// A number with a decimal point.
    Float(f64),
    /// Text.
    Str(String),
    /// A date or time: Psych 4 refuses to load either.
    Timestamp,
}

/// Types `s`, the source text of a plain scalar.
pub fn resolve(s: &str) -> Plain {
    if s.is_empty() {
        return Plain::Null;
    }
    if starts_wordy(s) {
        if s.len() > 5 {
            return Plain::Str(s.to_owned());
        }
        let lower = s.to_ascii_lowercase();
        return match lower.as_str() {
            "~" | "null" => Plain::Null,
            "yes" | "true" | "on" => Plain::Bool(true),
            "no" | "false" | "off" => Plain::Bool(false),
            _ => Plain::Str(s.to_owned()),
        };
    }
    if is_time(s) || is_date(s) {
        return Plain::Timestamp;
    }
    if let Some(n) = sexagesimal(s) {
        return Plain::Int(n);
    }
    if let Some(x) = float(s) {
        return Plain::Float(x);
    }
    if let Some(n) = integer(s) {
        return Plain::Int(n);
    }
    Plain::Str(s.to_owned())
}

/// Psych's first test: an optional non-digit, then letters or punctuation.
/// Such a scalar is a string unless it is one of the short keywords.
fn starts_wordy(s: &str) -> bool {
    let wordy =
        |c: char| c.is_alphabetic() || c.is_whitespace() || "_!@#$%^&*(){}<>|/\\~;=".contains(c);
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    if wordy(first) {
        return true;
    }
    if first.is_ascii_digit() || ".:-".contains(first) {
        return false;
    }
    chars.next().is_some_and(wordy)
}

fn digits(s: &str, min: usize, max: usize) -> Option<&str> {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    (min..=max).contains(&n).then(|| &s[n..])
}

/// `YYYY-M-D`.
fn is_date(s: &str) -> bool {
    let mut parts = s.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let num = |p: &str, lo: usize, hi: usize| {
        !p.is_empty() && p.len() >= lo && p.len() <= hi && p.bytes().all(|b| b.is_ascii_digit())
    };
    num(y, 4, 4)
        && num(m, 1, 2)
        && num(d, 1, 2)
        && m.parse::<u32>().is_ok_and(|m| m <= 12)
        && d.parse::<u32>().is_ok_and(|d| d <= 31)
}

/// `YYYY-M-D[Tt ]H:MM:SS[.frac][ zone]`.
fn is_time(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let step = || -> Option<()> {
        let r = digits(s, 4, 4)?.strip_prefix('-')?;
        let r = digits(r, 1, 2)?.strip_prefix('-')?;
        let r = digits(r, 1, 2)?;
        let r = match r.strip_prefix(['T', 't']) {
            Some(r) => r,
            None => {
                let t = r.trim_start();
                (t.len() < r.len()).then_some(t)?
            }
        };
        let r = digits(r, 1, 2)?.strip_prefix(':')?;
        let r = digits(r, 2, 2)?.strip_prefix(':')?;
        let mut r = digits(r, 2, 2)?;
        if let Some(frac) = r.strip_prefix('.') {
            r = digits(frac, 0, usize::MAX)?;
        }
        let r = r.trim_start();
        if r.is_empty() || r == "Z" {
            return Some(());
        }
        let r = r.strip_prefix(['+', '-'])?;
        let r = digits(r, 1, 2)?;
        let r = r.strip_prefix(':').unwrap_or(r);
        let r = digits(r, 0, 2)?;
        r.is_empty().then_some(())
    };
    step().is_some()
}

/// `[-+]N:SS[:SS]`, each later part 0–59, read with Psych's weights: the
/// first part counts 60², the second 60, the third 1.
fn sexagesimal(s: &str) -> Option<i128> {
    let (negative, body) = sign(s);
    let mut parts = body.split(':');
    let head = parts.next()?;
    if head.is_empty() || !head.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if !head.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return None;
    }
    let rest: Vec<&str> = parts.collect();
    if !(1..=2).contains(&rest.len()) {
        return None;
    }
    let mut total: i128 = head.replace('_', "").parse().ok()?;
    total *= 3600;
    for (i, part) in rest.iter().enumerate() {
        let ok = (1..=2).contains(&part.len())
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part.len() == 1 || part.as_bytes()[0] <= b'5');
        if !ok {
            return None;
        }
        let weight = if i == 0 { 60 } else { 1 };
        total += part.parse::<i128>().ok()? * weight;
    }
    Some(if negative { -total } else { total })
}

fn sign(s: &str) -> (bool, &str) {
    match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    }
}

/// `[-+][digits[_,digits]].[digits][(e|E)(+|-)digits]`: a point is required,
/// and so is the exponent's sign.
fn float(s: &str) -> Option<f64> {
    let (negative, body) = sign(s);
    let (int, rest) = body.split_once('.')?;
    let int_ok = int.is_empty()
        || (int.starts_with(|c: char| c.is_ascii_digit())
            && int
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'_' || b == b','));
    if !int_ok {
        return None;
    }
    let frac_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (frac, exp) = rest.split_at(frac_len);
    if !exp.is_empty() {
        let e = exp.strip_prefix(['e', 'E'])?;
        let e = e.strip_prefix(['+', '-'])?;
        if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    if int.is_empty() && frac.is_empty() && exp.is_empty() {
        // `.` alone, or a sign and a point.
        return None;
    }
    let text = format!("{}.{frac}{exp}", int.replace(['_', ','], ""));
    let text = text.replace(".e", "e").replace(".E", "E");
    let text = text.strip_suffix('.').unwrap_or(&text).to_owned();
    let text = if text.starts_with('.') {
        format!("0{text}")
    } else {
        text
    };
    let x: f64 = text.parse().ok()?;
    Some(if negative { -x } else { x })
}

/// Binary, octal (a leading 0), decimal and hex, with `_` and `,` ignored,
/// as Psych's integer pattern and Ruby's `Integer()` read them.
fn integer(s: &str) -> Option<i128> {
    let (negative, body) = sign(s);
    let clean = |d: &str| d.replace(['_', ','], "");
    let n = if let Some(b) = body.strip_prefix("0b") {
        if b.is_empty() || !b.bytes().all(|c| matches!(c, b'0' | b'1' | b'_' | b',')) {
            return None;
        }
        i128::from_str_radix(&clean(b), 2).ok()?
    } else if let Some(h) = body.strip_prefix("0x") {
        if h.is_empty()
            || !h
                .bytes()
                .all(|c| c.is_ascii_hexdigit() || c == b'_' || c == b',')
        {
            return None;
        }
        i128::from_str_radix(&clean(h), 16).ok()?
    } else if let Some(o) = body.strip_prefix('0').filter(|o| !o.is_empty()) {
        if !o.bytes().all(|c| matches!(c, b'0'..=b'7' | b'_' | b',')) {
            return None;
        }
        let o = clean(o);
        if o.is_empty() {
            0
        } else {
            i128::from_str_radix(&o, 8).ok()?
        }
    } else {
        // `0` or `[1-9]` then digits, each `,` or `_` followed by a digit.
        let bytes = body.as_bytes();
        if body == "0" {
            0
        } else {
            if !matches!(bytes.first(), Some(b'1'..=b'9')) {
                return None;
            }
            let mut i = 1;
            while i < bytes.len() {
                match bytes[i] {
                    b'0'..=b'9' => i += 1,
                    b'_' | b',' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => i += 2,
                    _ => return None,
                }
            }
            clean(body).parse().ok()?
        }
    };
    Some(if negative { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_1_1_booleans_are_the_long_words_only() {
        for t in ["yes", "Yes", "YES", "on", "On", "true", "TRUE"] {
            assert_eq!(resolve(t), Plain::Bool(true), "{t}");
        }
        for f in ["no", "No", "off", "OFF", "false"] {
            assert_eq!(resolve(f), Plain::Bool(false), "{f}");
        }
        for s in ["y", "n", "Y", "N", "yess", "onn"] {
            assert_eq!(resolve(s), Plain::Str(s.into()), "{s}");
        }
    }

    #[test]
    fn numbers_read_as_psych_reads_them() {
        assert_eq!(resolve("0644"), Plain::Int(420));
        assert_eq!(resolve("0600"), Plain::Int(384));
        assert_eq!(resolve("0x1a4"), Plain::Int(420));
        assert_eq!(resolve("00"), Plain::Int(0));
        assert_eq!(resolve("+644"), Plain::Int(644));
        assert_eq!(resolve("1_000"), Plain::Int(1000));
        assert_eq!(resolve("1:30"), Plain::Int(5400));
        assert_eq!(resolve("1:30:15"), Plain::Int(5415));
        assert_eq!(resolve("0.0"), Plain::Float(0.0));
        assert_eq!(resolve("1."), Plain::Float(1.0));
        assert_eq!(resolve("1.5e+3"), Plain::Float(1500.0));
        for s in ["0o644", "0e0", "0.0e0", "1e3", "08", "0x", "."] {
            assert_eq!(resolve(s), Plain::Str(s.into()), "{s}");
        }
    }

    #[test]
    fn nulls_dates_and_times() {
        assert_eq!(resolve("~"), Plain::Null);
        assert_eq!(resolve("NULL"), Plain::Null);
        assert_eq!(resolve(""), Plain::Null);
        assert_eq!(resolve("2024-01-31"), Plain::Timestamp);
        assert_eq!(resolve("2024-1-2 10:00:00"), Plain::Timestamp);
        assert_eq!(resolve("2024-01-31T10:00:00Z"), Plain::Timestamp);
        assert_eq!(resolve("2024-13-01"), Plain::Str("2024-13-01".into()));
    }
}
