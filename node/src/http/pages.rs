//! Query parameters of list reads and paginated responses (spec §11): `offset`/`limit`, date
//! windows, filters, `X-Total-Count` and `Link: rel="next"`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use evfed_spec::ext::GssCode;
use evfed_spec::ids::Party;
use evfed_spec::time::DateTime;

use super::{ApiError, AppState, blocking};
use crate::store::{Hidden, ListFilter, Page, Store};

/// The largest page.
pub const MAX_LIMIT: u64 = 1000;
/// The page size when none is asked for.
pub const DEFAULT_LIMIT: u64 = 100;

/// Parsed list parameters.
#[derive(Debug, Clone)]
pub struct ListParams {
    pub offset: u64,
    pub limit: u64,
    pub party: Option<Party>,
    pub borough: Option<GssCode>,
    pub from: Option<DateTime>,
    pub to: Option<DateTime>,
}

impl ListParams {
    /// Reads the query string; `invalid-query` for anything malformed.
    pub fn parse(req: &HttpRequest) -> Result<Self, ApiError> {
        let mut p = ListParams {
            offset: 0,
            limit: DEFAULT_LIMIT,
            party: None,
            borough: None,
            from: None,
            to: None,
        };
        for (key, value) in pairs(req.query_string())? {
            match key.as_str() {
                "offset" => {
                    p.offset = value
                        .parse()
                        .map_err(|_| ApiError::query("offset must be a whole number ≥ 0"))?
                }
                "limit" => {
                    let n: u64 = value
                        .parse()
                        .map_err(|_| ApiError::query("limit must be a whole number ≥ 1"))?;
                    if n == 0 {
                        return Err(ApiError::query("limit must be at least 1"));
                    }
                    p.limit = n.min(MAX_LIMIT);
                }
                "party" => {
                    p.party = Some(
                        value
                            .parse()
                            .map_err(|e| ApiError::query(format!("party: {e}")))?,
                    )
                }
                "borough" => p.borough = Some(authority(req, &value)?),
                "date_from" => {
                    p.from = Some(
                        value
                            .parse()
                            .map_err(|e| ApiError::query(format!("date_from: {e}")))?,
                    )
                }
                "date_to" => {
                    p.to = Some(
                        value
                            .parse()
                            .map_err(|e| ApiError::query(format!("date_to: {e}")))?,
                    )
                }
                _ => {}
            }
        }
        if let (Some(f), Some(t)) = (&p.from, &p.to)
            && f > t
        {
            return Err(ApiError::query("date_from is after date_to"));
        }
        Ok(p)
    }

    pub fn filter(&self, hidden: Hidden) -> ListFilter {
        ListFilter {
            party: self.party.as_ref().map(Party::to_string),
            borough: self.borough.as_ref().map(|b| b.as_str().to_owned()),
            from_ms: self.from.as_ref().map(DateTime::unix_millis),
            to_ms: self.to.as_ref().map(DateTime::unix_millis),
            hidden,
        }
    }
}

/// The authority a `borough` filter names: a well-formed code as given (one that matches
/// nothing lists nothing), or the name of an authority of the node's area set
/// (`Camden`, `camden`). Anything else is `invalid-query`, naming the forms allowed.
fn authority(req: &HttpRequest, value: &str) -> Result<GssCode, ApiError> {
    if let Ok(code) = value.parse::<GssCode>() {
        return Ok(code);
    }
    let set = req
        .app_data::<actix_web::web::Data<super::AppState>>()
        .map(|s| s.config.area_set.set)
        .unwrap_or_else(evfed_spec::areas::AreaSet::london);
    match set.find(value, None) {
        Ok(a) if a.level == evfed_spec::areas::Level::Authority => a
            .code
            .parse()
            .map_err(|e| ApiError::query(format!("borough: {e}"))),
        _ => Err(ApiError::query(format!(
            "borough: {value:?} is neither an area code (e.g. E09000007) nor the name of an \
             authority of {} (e.g. {:?})",
            set.name,
            set.authorities().next().map_or("", |a| a.name.as_str())
        ))),
    }
}

/// Decoded `key=value` pairs of a query string.
pub fn pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    actix_web::web::Query::<Vec<(String, String)>>::from_query(query)
        .map(|q| q.into_inner())
        .map_err(|e| ApiError::query(format!("malformed query string: {e}")))
}

/// The query string with `offset` set to `offset`, other parameters kept as sent.
pub fn next_query(query: &str, offset: u64) -> String {
    let mut parts: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("offset=") && *p != "offset")
        .map(str::to_owned)
        .collect();
    parts.push(format!("offset={offset}"));
    parts.join("&")
}

/// A rendered list page: its items as one JSON array and what its pagination headers need.
/// `/v1` lists answer the array as it is; the OCPI sender answers it as the envelope's `data`.
#[derive(Debug)]
pub struct RenderedPage {
    total: u64,
    /// The public log size the page was read at (spec §10.1, RT-4).
    tree_size: u64,
    /// `path?query` of the next page, when there is one.
    next: Option<String>,
    body: web::Bytes,
}

impl RenderedPage {
    /// Renders `items` (each already JSON) of the list at `path` asked with `query` (whose
    /// `offset` is `offset`), read when the public log had `tree_size` entries. `read` is how
    /// many rows the page read (the next page starts after them), usually `items.len()`.
    pub fn new(
        target: (&str, &str),
        offset: u64,
        read: usize,
        total: u64,
        tree_size: u64,
        items: &[Vec<u8>],
    ) -> Self {
        let mut body = Vec::with_capacity(items.iter().map(|i| i.len() + 1).sum::<usize>() + 2);
        body.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(item);
        }
        body.push(b']');
        let (path, query) = target;
        let next = offset + read as u64;
        let next =
            (next < total && read > 0).then(|| format!("{path}?{}", next_query(query, next)));
        Self {
            total,
            tree_size,
            next,
            body: body.into(),
        }
    }

    /// The `/v1` response: the bare array, `X-Total-Count`, `Evfed-Tree-Size` and a relative
    /// `Link: rel="next"`.
    pub fn response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(StatusCode::OK);
        res.content_type("application/json");
        res.insert_header(("X-Total-Count", self.total.to_string()));
        res.insert_header((super::TREE_SIZE_HEADER, self.tree_size.to_string()));
        if let Some(next) = &self.next {
            res.insert_header(("Link", format!("<{next}>; rel=\"next\"")));
        }
        res.body(self.body.clone())
    }

    /// Objects matching the list's filters, on every page.
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn tree_size(&self) -> u64 {
        self.tree_size
    }

    /// `path?query` of the next page.
    pub fn next(&self) -> Option<&str> {
        self.next.as_deref()
    }

    /// The items as one JSON array.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// A bare JSON array of `items` (each already JSON) with the pagination headers and the tree
/// size the page was read at.
pub fn array_response(
    req: &HttpRequest,
    params: &ListParams,
    page: &Page<Vec<u8>>,
) -> HttpResponse {
    RenderedPage::new(
        (req.path(), req.query_string()),
        params.offset,
        page.items.len(),
        page.total,
        page.tree_size,
        &page.items,
    )
    .response()
}

/// Rendered anonymous list pages, valid for one public log size. Every change an anonymous
/// reader can see appends to the public log, so a page rendered at size `n` stays right until
/// the size moves; then the whole cache is dropped.
#[derive(Debug, Default)]
pub struct PageCache {
    inner: Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    size: u64,
    bytes: usize,
    pages: HashMap<String, Arc<RenderedPage>>,
}

/// Most bytes of rendered pages kept.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

impl PageCache {
    /// The page for `key` rendered at public log size `size`.
    pub fn get(&self, key: &str, size: u64) -> Option<Arc<RenderedPage>> {
        let inner = self.inner.lock().ok()?;
        if inner.size != size {
            return None;
        }
        inner.pages.get(key).cloned()
    }

    pub fn put(&self, key: String, size: u64, page: Arc<RenderedPage>) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if size < inner.size {
            // Rendered before a newer page was cached: not worth keeping.
            return;
        }
        if inner.size != size || inner.bytes + page.body.len() > CACHE_BYTES {
            inner.pages.clear();
            inner.bytes = 0;
            inner.size = size;
        }
        inner.bytes += page.body.len();
        inner.pages.insert(key, page);
    }
}

/// Serves an anonymous list page from `cache` or renders it with `load` (blocking work run off
/// the executor) and caches it.
pub async fn cached_list(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    params: &ListParams,
    load: impl FnOnce(&Store) -> Result<Page<Vec<u8>>, ApiError> + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    let (path, query) = (req.path().to_owned(), req.query_string().to_owned());
    let offset = params.offset;
    let page = cached(state, req.uri().to_string(), move |store| {
        let page = load(store)?;
        Ok(RenderedPage::new(
            (&path, &query),
            offset,
            page.items.len(),
            page.total,
            page.tree_size,
            &page.items,
        ))
    })
    .await?;
    Ok(page.response())
}

/// The page cached under `key` (a request's path and query) at the current public log size,
/// or the one `render` makes (blocking work, run off the executor), which is then cached
/// under the size it was read at. Only pages everyone may see belong here.
pub async fn cached(
    state: &web::Data<AppState>,
    key: String,
    render: impl FnOnce(&Store) -> Result<RenderedPage, ApiError> + Send + 'static,
) -> Result<Arc<RenderedPage>, ApiError> {
    let size = state.store.public_size();
    if let Some(page) = state.pages.get(&key, size) {
        return Ok(page);
    }
    let st = state.clone();
    let page = Arc::new(blocking(move || render(&st.store)).await?);
    state.pages.put(key, page.tree_size, page.clone());
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_query_replaces_offset_only() {
        assert_eq!(
            next_query("limit=5&offset=10&party=GB%2AABC", 15),
            "limit=5&party=GB%2AABC&offset=15"
        );
        assert_eq!(next_query("", 100), "offset=100");
    }
}
