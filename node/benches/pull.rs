//! Pull benchmark: how many locations per second `evfed-node`'s OCPI pull lands from a local
//! OCPI 2.2.1 sender. The sender (actix-web, in this process, on `127.0.0.1:0`) serves the node
//! benchmark's estate (`node/fixtures.rs`: 10,000 London locations, 25,000 EVSEs) from memory
//! in pages with `Link` headers; the pull writes into a fresh node directory through the same
//! domain writes as a push (one transaction per location). Prints one `figure` line per result;
//! asserts nothing about time.
//!
//! `cargo bench -p evfed-node --bench pull`. Knobs (environment): `EVFED_BENCH_LOCATIONS`
//! (default 10000), `EVFED_BENCH_PAGE` (objects per page, default 500).

#[allow(dead_code)]
#[path = "node/fixtures.rs"]
mod fixtures;

use std::sync::Arc;
use std::time::Instant;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::{Context, bail};
use evfed_node::cli::pull::{self, Options, Source, Stop, Store};
use evfed_node::cli::{Config, Kind};
use evfed_spec::time::DateTime;

/// The sender's objects, each already serialised, and its page size.
struct Feed {
    items: Vec<String>,
    page: usize,
    base: String,
}

fn main() -> anyhow::Result<()> {
    evfed_node::embed::outgoing::install_crypto_provider();
    let n = knob("EVFED_BENCH_LOCATIONS", 10_000)?;
    let page = knob("EVFED_BENCH_PAGE", 500)?.max(1);
    let now = DateTime::now();
    let estate = fixtures::estate(n, &now);
    let bytes: usize = estate.iter().map(|f| f.body.len()).sum();
    let items = estate
        .into_iter()
        .map(|f| String::from_utf8(f.body).context("fixture is not UTF-8"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let url = start_sender(items, page)?;
    println!(
        "evfed-node pull benchmark: {n} locations ({:.1} MB of OCPI JSON), pages of {page}, sender {url}",
        bytes as f64 / 1e6
    );

    let tmp = tempfile::tempdir().context("temporary directory")?;
    let dir = tmp.path().join("node");
    let origin = "evfed.pull-bench.example"
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    evfed_node::cli::init(&dir, &origin, Kind::Cpo, None, None, &[])?;
    let store = Store::open(&dir.join("evfed.db"))?;
    let config = Config::load(&dir.join("config.toml"))?;
    let policy = pull::policy(&config);
    let source = Source {
        url: url.parse()?,
        token: None,
        party: None,
        modules: Vec::new(),
    };

    let full = Options {
        full: true,
        ..Options::default()
    };
    for (what, expect_created) in [
        ("first pull, every location new", n),
        ("second pull, every location unchanged", 0),
    ] {
        let started = Instant::now();
        let report = pull::run(&store, &policy, &source, &full, &Stop::default())?;
        let secs = started.elapsed().as_secs_f64();
        let m = report
            .module("locations")
            .context("no locations module in the report")?;
        if !report.complete() || m.rejected > 0 || m.created as usize != expect_created {
            bail!("unexpected pull: {report}");
        }
        println!(
            "figure pull {what}: {n} locations in {secs:.2} s = {:.0} locations/s ({} pages, {} entries appended)",
            n as f64 / secs,
            m.pages,
            m.appended
        );
    }
    Ok(())
}

fn start_sender(items: Vec<String>, page: usize) -> anyhow::Result<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let served = actix_web::rt::System::new().block_on(async move {
            let feed = Arc::new(std::sync::Mutex::new(Feed {
                items,
                page,
                base: String::new(),
            }));
            let data = web::Data::from(feed.clone());
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(data.clone())
                    .route("/ocpi/versions", web::get().to(versions))
                    .route("/ocpi/2.2.1", web::get().to(details))
                    .route("/ocpi/2.2.1/locations", web::get().to(locations))
            })
            .workers(1)
            .bind("127.0.0.1:0")?;
            let addr = server.addrs().first().copied().context("no address")?;
            if let Ok(mut f) = feed.lock() {
                f.base = format!("http://{addr}");
            }
            let _ = tx.send(format!("http://{addr}/ocpi/versions"));
            server.run().await?;
            anyhow::Ok(())
        });
        if let Err(e) = served {
            eprintln!("sender failed: {e:#}");
        }
    });
    rx.recv().context("the sender did not start")
}

fn envelope(data: &str) -> String {
    format!(
        r#"{{"data":{data},"status_code":1000,"status_message":"Success","timestamp":"{}"}}"#,
        DateTime::now()
    )
}

async fn versions(feed: web::Data<std::sync::Mutex<Feed>>) -> HttpResponse {
    let base = feed.lock().map(|f| f.base.clone()).unwrap_or_default();
    let data = format!(r#"[{{"version":"2.2.1","url":"{base}/ocpi/2.2.1"}}]"#);
    json(envelope(&data))
}

async fn details(feed: web::Data<std::sync::Mutex<Feed>>) -> HttpResponse {
    let base = feed.lock().map(|f| f.base.clone()).unwrap_or_default();
    let data = format!(
        r#"{{"version":"2.2.1","endpoints":[{{"identifier":"locations","role":"SENDER","url":"{base}/ocpi/2.2.1/locations"}}]}}"#
    );
    json(envelope(&data))
}

async fn locations(feed: web::Data<std::sync::Mutex<Feed>>, req: HttpRequest) -> HttpResponse {
    let Ok(f) = feed.lock() else {
        return HttpResponse::InternalServerError().finish();
    };
    let offset: usize = req
        .query_string()
        .split('&')
        .find_map(|kv| kv.strip_prefix("offset="))
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let end = (offset + f.page).min(f.items.len());
    let page = f.items.get(offset..end).unwrap_or_default().join(",");
    let mut res = HttpResponse::Ok();
    res.insert_header(("X-Total-Count", f.items.len().to_string()))
        .insert_header(("X-Limit", f.page.to_string()));
    if end < f.items.len() {
        res.insert_header((
            "Link",
            format!(
                "<{}/ocpi/2.2.1/locations?offset={end}&limit={}>; rel=\"next\"",
                f.base, f.page
            ),
        ));
    }
    res.content_type("application/json")
        .body(envelope(&format!("[{page}]")))
}

fn json(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

fn knob(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v} is not a number")),
        Err(_) => Ok(default),
    }
}
