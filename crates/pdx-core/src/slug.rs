//! Turning a name into a URL-safe slug candidate; each caller validates it with its own rules.

/// Lower-cases the Latin letters and digits of `name`, joins the runs with single hyphens and
/// keeps at most `max` characters. Empty when the name has no Latin letters or digits.
pub fn kebab(name: &str, max: usize) -> String {
    let mut out = String::new();
    for c in name.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out.chars().take(max).collect();
    out.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_joins_latin_runs_and_truncates() {
        assert_eq!(
            kebab("Shenzhen Transport Bureau!", 64),
            "shenzhen-transport-bureau"
        );
        assert_eq!(kebab("深圳市公交站点 Bus stops", 64), "bus-stops");
        assert_eq!(kebab("ab cd", 3), "ab");
        assert_eq!(kebab("交通运输局", 64), "");
    }
}
