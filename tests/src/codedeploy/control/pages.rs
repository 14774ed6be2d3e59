//! `nextToken` pagination for the list operations.
//!
//! A token is opaque to clients; here it carries the operation it belongs
//! to and the offset of the next page, so a token from one operation, or
//! one a client made up, is refused with InvalidNextTokenException as AWS
//! refuses it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{AwsError, Input};

/// The page of `items` the request's `nextToken` points at (the first
/// without one), and the token for the page after it, if any.
pub(super) fn page<'a, T>(
    input: &Input,
    op: &str,
    items: &'a [T],
    size: usize,
) -> Result<(&'a [T], Option<String>), AwsError> {
    let start = match input.string("nextToken")? {
        None => 0,
        Some(token) => decode(op, &token).ok_or_else(|| {
            AwsError::new(
                "InvalidNextTokenException",
                "The next token was specified in an invalid format.",
            )
        })?,
    };
    // A list that shrank since the token was issued ends early.
    let start = start.min(items.len());
    let end = start.saturating_add(size.max(1)).min(items.len());
    let next = (end < items.len()).then(|| encode(op, end));
    Ok((&items[start..end], next))
}

fn encode(op: &str, offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("{op}:{offset}"))
}

fn decode(op: &str, token: &str) -> Option<usize> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (token_op, offset) = text.rsplit_once(':')?;
    (token_op == op).then_some(())?;
    offset.parse().ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn input(token: Option<&str>) -> Input {
        Input(json!({ "nextToken": token }))
    }

    #[test]
    fn pages_follow_one_another_to_the_end() {
        let items: Vec<u32> = (0..5).collect();
        let (first, next) = page(&input(None), "ListX", &items, 2).unwrap();
        assert_eq!(first, [0, 1]);
        let (second, next) = page(&input(next.as_deref()), "ListX", &items, 2).unwrap();
        assert_eq!(second, [2, 3]);
        let (last, next) = page(&input(next.as_deref()), "ListX", &items, 2).unwrap();
        assert_eq!((last, next), (&[4][..], None));
    }

    #[test]
    fn a_token_of_another_operation_or_made_up_is_invalid() {
        let items = [1, 2, 3];
        let (_, next) = page(&input(None), "ListX", &items, 1).unwrap();
        for token in [
            next.unwrap(),
            "garbage".to_owned(),
            encode("ListX", 0) + "!",
        ] {
            let e = page(&input(Some(&token)), "ListY", &items, 1).unwrap_err();
            assert_eq!(e.code, "InvalidNextTokenException", "{token}");
        }
    }
}
