//! ListObjects paging over a sorted key list: prefix, delimiter → common prefixes, max-keys and
//! a resume marker (ListObjectsV2's continuation token / start-after, V1's marker).

use crate::ObjectSummary;

/// What one ListObjects page asks for.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// S3 caps a page at 1000 keys; larger values are lowered to it.
    pub max_keys: usize,
    /// Only keys (and common prefixes) after this one.
    pub start_after: Option<String>,
}

/// One page: objects and common prefixes, each in key order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListPage {
    pub objects: Vec<ObjectSummary>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// The last key or common prefix on this page: where the next page starts after.
    pub next_marker: Option<String>,
}

pub const MAX_KEYS: usize = 1000;

/// Builds one page from every object under the prefix, sorted by key.
pub fn page(sorted: Vec<ObjectSummary>, request: &ListRequest) -> ListPage {
    let max_keys = request.max_keys.min(MAX_KEYS);
    let after = request.start_after.as_deref().unwrap_or("");
    let delimiter = request.delimiter.as_deref().filter(|d| !d.is_empty());
    let mut out = ListPage::default();
    let mut count = 0;
    for object in sorted {
        if !object.key.starts_with(&request.prefix) || object.key.as_str() <= after {
            continue;
        }
        let rest = &object.key[request.prefix.len()..];
        let common = delimiter.and_then(|d| {
            rest.find(d)
                .map(|i| format!("{}{}", request.prefix, &rest[..i + d.len()]))
        });
        // A common prefix at or before the marker was on an earlier page already.
        if let Some(common) = &common {
            if common.as_str() <= after || out.common_prefixes.last() == Some(common) {
                continue;
            }
        }
        if count == max_keys {
            out.is_truncated = true;
            break;
        }
        count += 1;
        match common {
            Some(common) => {
                out.next_marker = Some(common.clone());
                out.common_prefixes.push(common);
            }
            None => {
                out.next_marker = Some(object.key.clone());
                out.objects.push(object);
            }
        }
    }
    if !out.is_truncated {
        out.next_marker = None;
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn objects(keys: &[&str]) -> Vec<ObjectSummary> {
        let mut keys: Vec<&str> = keys.to_vec();
        keys.sort();
        keys.into_iter()
            .map(|k| ObjectSummary {
                key: k.to_string(),
                size: 1,
                etag: "\"x\"".into(),
                last_modified: std::time::UNIX_EPOCH,
            })
            .collect()
    }

    fn keys(page: &ListPage) -> Vec<&str> {
        page.objects.iter().map(|o| o.key.as_str()).collect()
    }

    const TREE: &[&str] = &[
        "a.txt",
        "docs/2024/q1.md",
        "docs/2024/q2.md",
        "docs/2025/q1.md",
        "docs/readme.md",
        "images/x.png",
        "z.txt",
    ];

    #[test]
    fn delimiter_groups_common_prefixes() {
        let request = ListRequest {
            delimiter: Some("/".into()),
            max_keys: 1000,
            ..Default::default()
        };
        let page = page(objects(TREE), &request);
        assert_eq!(keys(&page), ["a.txt", "z.txt"]);
        assert_eq!(page.common_prefixes, ["docs/", "images/"]);
        assert!(!page.is_truncated);

        let request = ListRequest {
            prefix: "docs/".into(),
            delimiter: Some("/".into()),
            max_keys: 1000,
            ..Default::default()
        };
        let page = super::page(objects(TREE), &request);
        assert_eq!(keys(&page), ["docs/readme.md"]);
        assert_eq!(page.common_prefixes, ["docs/2024/", "docs/2025/"]);
    }

    #[test]
    fn pages_resume_after_the_marker_without_repeats() {
        let mut seen = Vec::new();
        let mut marker = None;
        let mut pages = 0;
        loop {
            let request = ListRequest {
                delimiter: Some("/".into()),
                max_keys: 1,
                start_after: marker.clone(),
                ..Default::default()
            };
            let page = page(objects(TREE), &request);
            pages += 1;
            seen.extend(page.objects.iter().map(|o| o.key.clone()));
            seen.extend(page.common_prefixes.iter().cloned());
            if !page.is_truncated {
                break;
            }
            marker = page.next_marker;
        }
        assert_eq!(seen, ["a.txt", "docs/", "images/", "z.txt"]);
        assert_eq!(pages, 4);
    }

    #[test]
    fn prefix_without_delimiter_and_start_after() {
        let request = ListRequest {
            prefix: "docs/20".into(),
            max_keys: 2,
            ..Default::default()
        };
        let first = page(objects(TREE), &request);
        assert_eq!(keys(&first), ["docs/2024/q1.md", "docs/2024/q2.md"]);
        assert!(first.is_truncated);
        let second = page(
            objects(TREE),
            &ListRequest {
                start_after: first.next_marker,
                ..request
            },
        );
        assert_eq!(keys(&second), ["docs/2025/q1.md"]);
        assert!(!second.is_truncated);
        assert_eq!(second.next_marker, None);
    }
}
