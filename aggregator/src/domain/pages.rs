//! Rendered pages of the London view, kept for one version of the view: the London
//! counterpart of the node's page cache. Every change of what a page shows (a harvest applying
//! a member's entries, a member's data turning stale or current again) bumps
//! `London::version`, so a page rendered at version `v` is right until the version moves; then
//! the whole cache is dropped. Requests that miss together wait for one rendering.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::OnceCell;

use crate::london;

/// Most bytes of rendered pages kept.
pub const MAX_BYTES: usize = 16 * 1024 * 1024;
/// Most pages kept (small pages of many distinct queries are bounded by this, not by bytes).
pub const MAX_PAGES: usize = 4096;

/// What a cached page costs in memory.
pub trait Weigh {
    fn bytes(&self) -> usize;
}

/// A rendered page of `GET /v1/london/locations`, as the cache keeps it: the JSON array, the
/// count for `X-Total-Count`, and the query of the next page (the request's parameters with
/// `offset` moved on), when there is one.
#[derive(Debug)]
pub struct ListPage {
    total: usize,
    next: Option<String>,
    body: Bytes,
}

impl ListPage {
    /// The page `page` of the list asked for with `query`, whose `offset` is `offset`.
    pub fn new(query: &str, offset: usize, page: london::Page) -> Self {
        let len = page.items.iter().map(|i| i.len() + 1).sum::<usize>() + 2;
        let mut body = Vec::with_capacity(len);
        body.push(b'[');
        for (i, item) in page.items.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(item);
        }
        body.push(b']');
        let next = offset + page.items.len();
        let next = (next < page.total && !page.items.is_empty()).then(|| {
            let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
                .filter(|(k, _)| k != "offset")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .chain([("offset".to_owned(), next.to_string())])
                .collect();
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish()
        });
        Self {
            total: page.total,
            next,
            body: body.into(),
        }
    }

    /// Copies the list's filters keep, on every page.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The query of the next page.
    pub fn next(&self) -> Option<&str> {
        self.next.as_deref()
    }

    /// The items as one JSON array.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

impl Weigh for ListPage {
    fn bytes(&self) -> usize {
        self.body.len() + self.next.as_ref().map_or(0, String::len)
    }
}

/// Pages by key (a request's query), each rendered once per version of the view.
#[derive(Debug)]
pub struct Pages<T> {
    inner: Mutex<Inner<T>>,
}

#[derive(Debug)]
struct Inner<T> {
    version: u64,
    bytes: usize,
    pages: HashMap<String, Arc<OnceCell<Arc<T>>>>,
}

impl<T> Default for Pages<T> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                version: 0,
                bytes: 0,
                pages: HashMap::new(),
            }),
        }
    }
}

impl<T: Weigh> Pages<T> {
    /// The page for `key` at the view's `version` (read before the call): the cached one, the
    /// one another request is rendering, or the one `render` makes now. A page rendered from a
    /// newer view than `version` may be kept under it: it is never older than what the caller
    /// asked for, and the next version drops it. A failed rendering is not kept.
    pub async fn get_or_render<E, F, Fut>(
        &self,
        key: &str,
        version: u64,
        render: F,
    ) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let cell = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if version > inner.version {
                inner.pages.clear();
                inner.bytes = 0;
                inner.version = version;
            }
            if version < inner.version {
                // The view moved on while this request began: not worth keeping.
                None
            } else {
                if !inner.pages.contains_key(key) && inner.pages.len() >= MAX_PAGES {
                    inner.pages.clear();
                    inner.bytes = 0;
                }
                Some(inner.pages.entry(key.to_owned()).or_default().clone())
            }
        };
        let Some(cell) = cell else {
            return render().await.map(Arc::new);
        };
        let mut rendered = false;
        let page = cell
            .get_or_try_init(|| async {
                rendered = true;
                render().await.map(Arc::new)
            })
            .await?
            .clone();
        if rendered {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if inner.version == version {
                inner.bytes += page.bytes();
                if inner.bytes > MAX_BYTES {
                    inner.pages.clear();
                    inner.bytes = 0;
                }
            }
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Body(Vec<u8>);

    impl Weigh for Body {
        fn bytes(&self) -> usize {
            self.0.len()
        }
    }

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_page_is_rendered_once_per_version_and_failures_are_not_kept() {
        let pages = Pages::<Body>::default();
        let renders = AtomicUsize::new(0);
        let render = |v: u8| {
            renders.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, ()>(Body(vec![v])) }
        };
        run(async {
            assert_eq!(
                pages.get_or_render("a", 1, || render(1)).await.unwrap().0,
                [1]
            );
            assert_eq!(
                pages.get_or_render("a", 1, || render(9)).await.unwrap().0,
                [1]
            );
            assert_eq!(renders.load(Ordering::SeqCst), 1);
            // Another key, then a new version: rendered again.
            assert_eq!(
                pages.get_or_render("b", 1, || render(2)).await.unwrap().0,
                [2]
            );
            assert_eq!(
                pages.get_or_render("a", 2, || render(3)).await.unwrap().0,
                [3]
            );
            assert_eq!(renders.load(Ordering::SeqCst), 3);
            // A request from before the new version renders for itself and keeps nothing.
            assert_eq!(
                pages.get_or_render("a", 1, || render(4)).await.unwrap().0,
                [4]
            );
            assert_eq!(
                pages.get_or_render("a", 2, || render(5)).await.unwrap().0,
                [3]
            );
            // A failure is answered, not kept.
            let failed = pages
                .get_or_render("c", 2, || async { Err::<Body, _>("no") })
                .await;
            assert!(failed.is_err());
            assert_eq!(
                pages.get_or_render("c", 2, || render(6)).await.unwrap().0,
                [6]
            );
        });
    }

    #[test]
    fn concurrent_misses_wait_for_one_rendering() {
        let pages = Arc::new(Pages::<Body>::default());
        let renders = Arc::new(AtomicUsize::new(0));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let started = Arc::new(tokio::sync::Barrier::new(8));
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let (pages, renders, started) =
                        (pages.clone(), renders.clone(), started.clone());
                    tokio::spawn(async move {
                        started.wait().await;
                        pages
                            .get_or_render("a", 1, || async {
                                renders.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                                Ok::<_, ()>(Body(vec![7]))
                            })
                            .await
                            .unwrap()
                    })
                })
                .collect();
            for t in tasks {
                assert_eq!(t.await.unwrap().0, [7]);
            }
        });
        assert_eq!(renders.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn memory_is_bounded() {
        let pages = Pages::<Body>::default();
        run(async {
            for i in 0..40 {
                let key = format!("p{i}");
                pages
                    .get_or_render(&key, 1, || async {
                        Ok::<_, ()>(Body(vec![0; MAX_BYTES / 8]))
                    })
                    .await
                    .unwrap();
                let inner = pages.inner.lock().unwrap();
                assert!(inner.bytes <= MAX_BYTES);
                assert!(inner.pages.len() <= 9);
            }
        });
    }
}
