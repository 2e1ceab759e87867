//! Cache tag rules shared by the Runtime Cache, `add_cache_tag` and purge.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::TagError;

/// The most tags one cache item (or one response) may carry.
pub const MAX_TAGS: usize = 128;
/// The longest tag, in bytes.
pub const MAX_TAG_LEN: usize = 256;

/// What `encodeURIComponent` leaves alone: ASCII letters, digits and `-_.!~*'()`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// One tag: 1..=256 bytes of visible ASCII without `,` (tags travel comma-joined in a header).
pub(crate) fn check_tag(tag: &str) -> Result<(), TagError> {
    if tag.is_empty() {
        return Err(TagError::Empty);
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(TagError::TooLong {
            len: tag.len(),
            limit: MAX_TAG_LEN,
        });
    }
    if !tag.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
        return Err(TagError::InvalidCharacter);
    }
    Ok(())
}

/// A list of tags: each checked, at most [`MAX_TAGS`].
pub(crate) fn check_tags<S: AsRef<str>>(tags: &[S]) -> Result<(), TagError> {
    if tags.len() > MAX_TAGS {
        return Err(TagError::TooMany {
            count: tags.len(),
            limit: MAX_TAGS,
        });
    }
    tags.iter().try_for_each(|t| check_tag(t.as_ref()))
}

/// `a,b` with each tag percent-encoded as `encodeURIComponent` does (a plain tag is unchanged).
pub(crate) fn query_list<S: AsRef<str>>(tags: &[S]) -> String {
    tags.iter()
        .map(|t| utf8_percent_encode(t.as_ref(), URI_COMPONENT).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_rules_and_their_edges() {
        assert_eq!(check_tag(""), Err(TagError::Empty));
        assert_eq!(check_tag(&"a".repeat(256)), Ok(()));
        assert_eq!(
            check_tag(&"a".repeat(257)),
            Err(TagError::TooLong {
                len: 257,
                limit: 256
            })
        );
        for bad in ["a,b", "a b", "é", "a\nb", "\u{7f}"] {
            assert_eq!(check_tag(bad), Err(TagError::InvalidCharacter), "{bad:?}");
        }
        assert_eq!(check_tag("user:123/profile?x=1&y"), Ok(()));
        let many: Vec<String> = (0..129).map(|i| format!("t{i}")).collect();
        assert_eq!(
            check_tags(&many),
            Err(TagError::TooMany {
                count: 129,
                limit: 128
            })
        );
        assert_eq!(check_tags(&many[..128]), Ok(()));
        assert_eq!(check_tags(&["ok", ""]), Err(TagError::Empty));
    }

    #[test]
    fn query_list_is_plain_for_plain_tags() {
        assert_eq!(query_list(&["a", "b-c_d.e"]), "a,b-c_d.e");
        assert_eq!(query_list(&["a&b", "x#y", "p/q"]), "a%26b,x%23y,p%2Fq");
        assert_eq!(query_list::<&str>(&[]), "");
    }
}
