//! The paths of calls: what a caller may ask for below an API's base, and the patterns a
//! publisher allows.

use percent_encoding::percent_decode_str;

/// Longest path a call may carry.
const MAX_PATH: usize = 2_048;
/// Longest query string a call may carry.
pub const MAX_QUERY: usize = 8_192;

/// A path below an API's base, checked: it cannot climb out of the base (no `.` or `..`
/// segment, however encoded), hide a separator (`%2F`, `\`) or carry control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPath {
    /// As the caller sent it (still percent-encoded), without the leading `/`.
    raw: String,
    /// Its segments, decoded.
    segments: Vec<String>,
}

impl CallPath {
    /// Checks the path below the base as sent (`""`, `stops`, `stops/12/`, …).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.strip_prefix('/').unwrap_or(raw);
        if raw.len() > MAX_PATH {
            return Err(format!("the path is longer than {MAX_PATH} characters"));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\\\"<>^`{|}".contains(&b))
        {
            return Err("the path holds characters that must be percent-encoded".into());
        }
        let mut segments = Vec::new();
        let parts: Vec<&str> = raw.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if part.is_empty() {
                // `a//b` is refused; an empty last segment is a trailing slash.
                if last {
                    continue;
                }
                return Err("the path holds an empty segment".into());
            }
            let decoded = percent_decode_str(part)
                .decode_utf8()
                .map_err(|_| "the path is not UTF-8 once decoded".to_owned())?;
            if decoded == "." || decoded == ".." {
                return Err("the path may not hold `.` or `..` segments".into());
            }
            if decoded.contains(['/', '\\']) || decoded.chars().any(char::is_control) {
                return Err("a path segment may not hide a separator or control character".into());
            }
            segments.push(decoded.into_owned());
        }
        Ok(Self {
            raw: raw.to_owned(),
            segments,
        })
    }

    /// The path as sent, without the leading `/`.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The path as logged: `/` and the decoded segments, cut at 512 characters.
    pub fn logged(&self) -> String {
        let mut path = format!("/{}", self.segments.join("/"));
        if self.raw.ends_with('/') && !self.segments.is_empty() {
            path.push('/');
        }
        if path.len() > 512 {
            let mut end = 512;
            while !path.is_char_boundary(end) {
                end -= 1;
            }
            path.truncate(end);
        }
        path
    }
}

/// A pattern of paths a publisher allows: `/stops` (that path), `/stops/*` (one segment
/// more), `/positions/**` (anything below, itself included). Segments match exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRule {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    One,
    Rest,
}

impl PathRule {
    /// Parses a pattern; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let Some(body) = text.strip_prefix('/') else {
            return Err(format!("`{text}` must begin with `/`"));
        };
        if text.len() > 256 {
            return Err("a pattern must be at most 256 characters".into());
        }
        let mut segments = Vec::new();
        let parts: Vec<&str> = body.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            let segment = match *part {
                "**" if i + 1 == parts.len() => Segment::Rest,
                "**" => return Err(format!("`{text}`: `**` may only end a pattern")),
                "*" => Segment::One,
                "." | ".." => return Err(format!("`{text}` may not hold `.` or `..`")),
                literal
                    if literal.contains(['*', '?', '#', '\\'])
                        || literal.chars().any(char::is_control) =>
                {
                    return Err(format!(
                        "`{text}`: a segment is a name, `*` or a final `**`"
                    ));
                }
                literal => Segment::Literal(literal.to_owned()),
            };
            segments.push(segment);
        }
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }

    /// The pattern as entered.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern allows a path.
    pub fn matches(&self, path: &CallPath) -> bool {
        let mut given = path.segments.iter();
        for segment in &self.segments {
            match segment {
                Segment::Rest => return true,
                Segment::One => {
                    if given.next().is_none() {
                        return false;
                    }
                }
                Segment::Literal(literal) => {
                    if given.next() != Some(literal) {
                        return false;
                    }
                }
            }
        }
        given.next().is_none()
    }
}

/// Checks a query string as sent: visible ASCII, bounded.
pub fn check_query(query: &str) -> Result<(), String> {
    if query.len() > MAX_QUERY {
        return Err(format!("the query is longer than {MAX_QUERY} characters"));
    }
    if !query.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the query holds characters that must be percent-encoded".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(raw: &str) -> CallPath {
        match CallPath::parse(raw) {
            Ok(path) => path,
            Err(e) => panic!("{raw}: {e}"),
        }
    }

    #[test]
    fn paths_cannot_climb_or_hide_separators() {
        for bad in [
            "..",
            "a/../b",
            "a/%2e%2E/b",
            "%2E",
            "a//b",
            "a%2Fb",
            "a%5cb",
            "a\\b",
            "a b",
            "a%00b",
            "a%0d%0ab",
            "%ff",
        ] {
            assert!(CallPath::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(path("").logged(), "/");
        assert_eq!(path("stops/12/").logged(), "/stops/12/");
        assert_eq!(path("/%E5%85%AC%E4%BA%A4").logged(), "/公交");
        assert_eq!(path("stops/a%20b").raw(), "stops/a%20b");
    }

    #[test]
    fn patterns_match_segment_by_segment() {
        let rule = |t: &str| match PathRule::parse(t) {
            Ok(rule) => rule,
            Err(e) => panic!("{t}: {e}"),
        };
        assert!(rule("/**").matches(&path("")));
        assert!(rule("/**").matches(&path("a/b/c")));
        assert!(rule("/stops").matches(&path("stops")));
        assert!(rule("/stops").matches(&path("stops/")));
        assert!(!rule("/stops").matches(&path("stops/1")));
        assert!(!rule("/stops").matches(&path("stopsx")));
        assert!(rule("/stops/*").matches(&path("stops/1")));
        assert!(!rule("/stops/*").matches(&path("stops/1/2")));
        assert!(!rule("/stops/*").matches(&path("stops")));
        assert!(rule("/positions/**").matches(&path("positions")));
        assert!(rule("/positions/**").matches(&path("positions/a/b")));
        assert!(!rule("/positions/**").matches(&path("admin/positions")));
        assert!(rule("/a/*/c").matches(&path("a/x/c")));
        for bad in ["stops", "/a/**/b", "/a/../b", "/a*b", "/a?"] {
            assert!(PathRule::parse(bad).is_err(), "{bad}");
        }
    }
}
