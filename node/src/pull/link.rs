//! Pagination of a pull: the `Link` header of a page judged against the module's own URL
//! (RFC 8288 `rel="next"` on the module's scheme, host, port and path), and the URL of a page
//! by offset when a sender gives no usable `Link`.

use evfed_spec::time::DateTime;
use url::Url;

/// The next-page `Link` of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// No `Link` header, or an empty one.
    Absent,
    /// A `rel="next"` URL on the module's own scheme, host, port and path.
    Next(Url),
    /// A header that does not parse as a `Link` with `rel="next"` (its first 200 characters).
    Malformed(String),
    /// A `rel="next"` URL elsewhere.
    Foreign(Url),
}

/// The URL of page `offset` of a module: the module URL with `date_from`, `offset` and (when
/// the sender told it) `limit`.
pub fn offset_url(
    module_url: &Url,
    date_from: Option<&DateTime>,
    offset: u64,
    limit: Option<u64>,
) -> Url {
    let mut url = module_url.clone();
    let kept: Vec<(String, String)> = module_url
        .query_pairs()
        .filter(|(k, _)| !matches!(k.as_ref(), "date_from" | "offset" | "limit"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = url.query_pairs_mut();
        q.clear();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        if let Some(d) = date_from {
            q.append_pair("date_from", &d.to_string());
        }
        if offset > 0 {
            q.append_pair("offset", &offset.to_string());
        }
        if let Some(l) = limit {
            q.append_pair("limit", &l.to_string());
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    url
}

/// Judges a `Link` header against the module URL.
pub fn judge_link(header: Option<&str>, request: &Url, module_url: &Url) -> Link {
    let Some(header) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Link::Absent;
    };
    let malformed = || Link::Malformed(header.chars().take(200).collect());
    let Some(target) = next_target(header) else {
        return malformed();
    };
    let Ok(next) = request.join(target) else {
        return malformed();
    };
    let same = next.scheme() == module_url.scheme()
        && next.host_str() == module_url.host_str()
        && next.port_or_known_default() == module_url.port_or_known_default()
        && next.path().trim_end_matches('/') == module_url.path().trim_end_matches('/');
    if same {
        Link::Next(next)
    } else {
        Link::Foreign(next)
    }
}

/// The target of the `rel="next"` link in a `Link` header (RFC 8288), if there is one.
fn next_target(header: &str) -> Option<&str> {
    let mut rest = header;
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        let open = rest.strip_prefix('<')?;
        let close = open.find('>')?;
        let target = &open[..close];
        let after = &open[close + 1..];
        // Parameters run to the next link (a ',' followed by '<') or the end.
        let end = after.find(",<").or_else(|| after.find(", <"));
        let params = &after[..end.unwrap_or(after.len())];
        let is_next = params.split(';').skip(1).any(|p| {
            let Some((k, v)) = p.split_once('=') else {
                return false;
            };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim()
                    .trim_matches('"')
                    .split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next && !target.is_empty() && !params.trim().is_empty() {
            return Some(target);
        }
        rest = &after[end?..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn links_are_judged_against_the_module_url() {
        let module = url("https://cpo.example/ocpi/2.2.1/locations");
        let req = url("https://cpo.example/ocpi/2.2.1/locations?offset=0");
        let next = |h: &str| judge_link(Some(h), &req, &module);
        assert_eq!(
            next(r#"<https://cpo.example/ocpi/2.2.1/locations?offset=50&limit=50>; rel="next""#),
            Link::Next(url(
                "https://cpo.example/ocpi/2.2.1/locations?offset=50&limit=50"
            ))
        );
        // A trailing slash is the same path; a relative reference resolves against the request.
        assert!(matches!(
            next(r#"</ocpi/2.2.1/locations/?offset=50>; rel=next"#),
            Link::Next(_)
        ));
        for foreign in [
            r#"<http://cpo.example/ocpi/2.2.1/locations?offset=50>; rel="next""#,
            r#"<https://evil.example/ocpi/2.2.1/locations?offset=50>; rel="next""#,
            r#"<https://cpo.example:8443/ocpi/2.2.1/locations?offset=50>; rel="next""#,
            r#"<https://cpo.example/ocpi/cpo/VersionNumber.v_2_2_1/ModuleID.locations/?offset=50>; rel="next""#,
        ] {
            assert!(matches!(next(foreign), Link::Foreign(_)), "{foreign}");
        }
        for malformed in [
            "https://cpo.example/ocpi/2.2.1/locations?offset=50",
            r#"<https://cpo.example/ocpi/2.2.1/locations?offset=50>"#,
            r#"<https://cpo.example/ocpi/2.2.1/locations?offset=50>; rel="prev""#,
            r#"<https://cpo.example/ocpi/2.2.1/locations?offset=50; rel="next""#,
            r#"<>; rel="next""#,
        ] {
            assert_eq!(
                next(malformed),
                Link::Malformed(malformed.into()),
                "{malformed}"
            );
        }
        assert_eq!(judge_link(Some("  "), &req, &module), Link::Absent);
        assert_eq!(judge_link(None, &req, &module), Link::Absent);
        // Several links: the one with rel="next" counts.
        assert!(matches!(
            next(r#"<https://cpo.example/ocpi/2.2.1/locations>; rel="first", <https://cpo.example/ocpi/2.2.1/locations?offset=9>; rel="next""#),
            Link::Next(u) if u.query() == Some("offset=9")
        ));
    }

    #[test]
    fn offset_urls_keep_other_parameters() {
        let module = url("https://cpo.example/ocpi/2.2.1/locations/?region=ldn&offset=7");
        let t: DateTime = "2026-01-02T03:04:05Z".parse().unwrap();
        let u = offset_url(&module, Some(&t), 100, Some(50));
        assert_eq!(
            u.as_str(),
            "https://cpo.example/ocpi/2.2.1/locations/?region=ldn&date_from=2026-01-02T03%3A04%3A05Z&offset=100&limit=50"
        );
        let plain = offset_url(&url("https://cpo.example/l"), None, 0, None);
        assert_eq!(plain.as_str(), "https://cpo.example/l");
    }
}
