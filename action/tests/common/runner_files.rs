//! GITHUB_ENV / GITHUB_OUTPUT read back as the runner reads them, shared by
//! the integration test binaries (each includes this file as a module), so
//! a bug in the action's own writer cannot be hidden by the same bug in a
//! reader.

/// Reads a GITHUB_ENV / GITHUB_OUTPUT file as the Actions runner does,
/// written here from the runner's documented format rather than taken from
/// the action's own writer: `NAME=VALUE` lines, and `NAME<<DELIMITER`
/// followed by value lines up to a line that is exactly the delimiter.
/// A `=` before any `<<` makes the line a plain assignment.
pub fn runner_file_command(text: &str) -> Result<Vec<(String, String)>, String> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut entries = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if line.is_empty() {
            continue;
        }
        let equals = line.find('=');
        let heredoc = line.find("<<");
        match (equals, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                let (name, value) = (&line[..e], &line[e + 1..]);
                if name.is_empty() {
                    return Err(format!("line {i}: empty name"));
                }
                entries.push((name.to_owned(), value.to_owned()));
            }
            (_, Some(h)) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                if name.is_empty() || delimiter.is_empty() {
                    return Err(format!("line {i}: invalid heredoc `{line}`"));
                }
                let start = i;
                let end = lines[start..]
                    .iter()
                    .position(|l| *l == delimiter)
                    .map(|p| start + p)
                    .ok_or_else(|| format!("line {i}: `{delimiter}` never closes `{name}`"))?;
                entries.push((name.to_owned(), lines[start..end].join("\n")));
                i = end + 1;
            }
            _ => return Err(format!("line {i}: neither NAME=VALUE nor NAME<<DELIMITER")),
        }
    }
    Ok(entries)
}

#[test]
fn the_runner_format_reads_back_from_a_fixture() {
    // As the runner's docs show a heredoc entry, with a value holding `=`
    // and `<<` and an empty one.
    let fixture = "A=1\nJSON<<EOF_x1\n{\"k\": \"a=b<<c\"}\nline two\nEOF_x1\nEMPTY<<d\nd\nB=x<<y\n";
    assert_eq!(
        runner_file_command(fixture).unwrap(),
        [
            ("A", "1"),
            ("JSON", "{\"k\": \"a=b<<c\"}\nline two"),
            ("EMPTY", ""),
            ("B", "x<<y"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    assert!(runner_file_command("X<<END\nno end\n").is_err());
}
