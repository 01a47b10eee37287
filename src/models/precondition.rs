//! `If-Match` preconditions (RFC 9110 §13.1.1) for optimistic concurrency.

/// A parsed `If-Match` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current representation matches.
    Any,
    /// A list of entity tags; strong comparison applies, so weak tags never match.
    Tags(Vec<String>),
}

impl IfMatch {
    /// Parses the header value; an empty or malformed list matches nothing.
    pub fn parse(header: &str) -> Self {
        if header.trim() == "*" {
            return Self::Any;
        }
        Self::Tags(
            header
                .split(',')
                .map(str::trim)
                .filter(|tag| tag.len() >= 2 && tag.starts_with('"') && tag.ends_with('"'))
                .map(str::to_string)
                .collect(),
        )
    }

    /// Whether a resource whose current ETag is `etag` satisfies the precondition.
    pub fn matches(&self, etag: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Tags(tags) => tags.iter().any(|tag| tag == etag),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_listed_strong_tags_and_star_only() {
        assert!(IfMatch::parse("*").matches("\"1-2\""));
        assert!(IfMatch::parse("\"1-1\", \"1-2\"").matches("\"1-2\""));
        assert!(!IfMatch::parse("\"1-1\"").matches("\"1-2\""));
        assert!(!IfMatch::parse("W/\"1-2\"").matches("\"1-2\""));
        assert!(!IfMatch::parse("1-2").matches("\"1-2\""));
    }
}
