//! Which methods a path supports, from the same route table as the OpenAPI document: a request
//! with another method on a known path is answered 405 with `Allow`, not 404.

use std::sync::OnceLock;

use actix_web::http::Method;

/// Every documented path template with the methods it supports.
fn table() -> &'static [(Vec<String>, Vec<Method>)] {
    static TABLE: OnceLock<Vec<(Vec<String>, Vec<Method>)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        crate::openapi()
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let segments = template.split('/').map(str::to_owned).collect();
                let methods: Vec<Method> = [
                    (item.get.is_some(), Method::GET),
                    (item.post.is_some(), Method::POST),
                    (item.put.is_some(), Method::PUT),
                    (item.patch.is_some(), Method::PATCH),
                    (item.delete.is_some(), Method::DELETE),
                ]
                .into_iter()
                .filter_map(|(supported, method)| supported.then_some(method))
                .collect();
                (segments, methods)
            })
            .collect()
    })
}

/// The methods `path` supports, when it is a documented path (none when it is not). Where
/// several templates fit, the most literal ones decide, as in routing: `/datasets/suggest` is
/// that path, not `/datasets/{id}`.
pub fn allowed(path: &str) -> Option<Vec<Method>> {
    let segments: Vec<&str> = path.split('/').collect();
    let mut found: Option<(usize, Vec<Method>)> = None;
    for (template, methods) in table() {
        if template.len() == segments.len()
            && template
                .iter()
                .zip(&segments)
                .all(|(t, s)| segment_matches(t, s))
        {
            let literal = template.iter().filter(|t| !t.contains('{')).count();
            match &mut found {
                Some((best, _)) if *best > literal => continue,
                Some((best, all)) if *best == literal => {
                    for method in methods {
                        if !all.contains(method) {
                            all.push(method.clone());
                        }
                    }
                }
                _ => found = Some((literal, methods.clone())),
            }
        }
    }
    found.map(|(_, methods)| methods)
}

/// Whether a path segment fits a template segment, where each `{name}` stands for one or more
/// characters (e.g. `{id}.{format}` fits `bus-stops.ttl`).
fn segment_matches(template: &str, segment: &str) -> bool {
    match template.find('{') {
        None => template == segment,
        Some(open) => {
            let Some(close) = template[open..].find('}').map(|c| open + c) else {
                return template == segment;
            };
            let (literal, rest) = (&template[..open], &template[close + 1..]);
            let Some(tail) = segment.strip_prefix(literal) else {
                return false;
            };
            // The placeholder takes one character or more; try every split.
            (1..=tail.len())
                .filter(|end| tail.is_char_boundary(*end))
                .any(|end| segment_matches(rest, &tail[end..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_literal_path_is_not_taken_for_a_parameter() {
        let suggest = allowed("/api/v1/datasets/suggest").unwrap_or_default();
        assert_eq!(suggest, [Method::GET]);
        let dataset = allowed("/api/v1/datasets/bus-stops").unwrap_or_default();
        assert!(dataset.contains(&Method::PUT) && dataset.contains(&Method::DELETE));
    }

    #[test]
    fn templates_match_their_paths_only() {
        assert!(segment_matches("{id}", "abc"));
        assert!(!segment_matches("{id}", ""));
        assert!(segment_matches("{id}.{format}", "bus-stops.v2.ttl"));
        assert!(segment_matches("catalog.{format}", "catalog.ttl"));
        assert!(!segment_matches("catalog.{format}", "catalogue.ttl"));
        assert!(!segment_matches("data", "datas"));
    }

    #[test]
    fn known_paths_name_their_methods_and_unknown_ones_none() {
        let healthz = allowed("/healthz").unwrap_or_default();
        assert!(healthz.contains(&Method::GET) && !healthz.contains(&Method::DELETE));
        let dataset = allowed("/api/v1/datasets/bus-stops").unwrap_or_default();
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            assert!(dataset.contains(&method), "{method}");
        }
        assert!(allowed("/api/v1/nothing-here").is_none());
    }
}
