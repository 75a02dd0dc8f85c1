//! Tidy: the layering rules `ARCHITECTURE.md` states, checked by reading the workspace's
//! sources, so that a rule that stops being true fails a test instead of lingering as prose.
//!
//! Each rule names a crate path that may appear only in some files. Comments are not code: a
//! line's `//` tail is ignored, so documentation may name what it likes. A rule's exceptions are
//! listed here, each with its reason, and `ARCHITECTURE.md` names the same ones.

use std::path::{Path, PathBuf};

/// The most lines one source file of a server crate may have: past it, a module holds more than
/// one concern and is split.
const MAX_LINES: usize = 800;

/// A name that may appear only where `allowed` says.
struct Rule {
    /// What the rule keeps in its place, for the failure message.
    what: &'static str,
    /// Any of these in code (outside comments) is a use.
    needles: &'static [&'static str],
    /// Whether the file at this workspace-relative path (with `/` separators) may use it.
    allowed: fn(&str) -> bool,
}

const RULES: &[Rule] = &[
    Rule {
        what: "SQLite (rusqlite) belongs to a crate's store",
        needles: &["rusqlite"],
        allowed: |p| p.contains("/src/store/") || p.ends_with("/src/store.rs"),
    },
    Rule {
        what: "actix-web belongs to a crate's http layer",
        needles: &["actix_web", "actix_http", "actix_service"],
        allowed: |p| {
            p.contains("/http/") || p.ends_with("/http.rs") || ACTIX_EXCEPTIONS.contains(&p)
        },
    },
    Rule {
        what: "outgoing HTTP (reqwest) goes through the one bounded client",
        needles: &["reqwest"],
        allowed: |p| REQWEST_OWNERS.contains(&p),
    },
    Rule {
        what: "only a binary's main.rs ends the process",
        needles: &["process::exit"],
        allowed: |p| p.ends_with("/main.rs") || p.contains("/src/bin/"),
    },
];

/// Files outside an `http` module that may name actix-web, and why.
const ACTIX_EXCEPTIONS: &[&str] = &[
    // `serve` runs the actix runtime around the harvest, follow and conformance threads.
    "aggregator/src/commands.rs",
];

/// The modules that build outgoing HTTP clients. The aggregator uses the node's; the suite and
/// the demo, which must not depend on the node, have their own.
const REQWEST_OWNERS: &[&str] = &[
    "node/src/outgoing.rs",
    "conformance/src/http.rs",
    "examples/src/demo/http.rs",
];

/// The crates whose sources the rules cover.
const CRATES: &[&str] = &["spec", "node", "aggregator", "conformance", "examples"];

/// The crates whose files are held to [`MAX_LINES`].
const SIZED: &[&str] = &["node", "aggregator"];

#[test]
fn layering_rules_hold() {
    let root = workspace();
    let mut broken = Vec::new();
    for krate in CRATES {
        for file in rust_files(&root.join(krate).join("src")) {
            let rel = relative(&root, &file);
            let text = std::fs::read_to_string(&file).unwrap();
            for rule in RULES {
                if (rule.allowed)(&rel) {
                    continue;
                }
                for (n, line) in code_lines(&text) {
                    if let Some(needle) = rule.needles.iter().find(|w| line.contains(**w)) {
                        broken.push(format!("{rel}:{n}: {needle}: {}", rule.what));
                    }
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "layering rules broken (see ARCHITECTURE.md):\n{}",
        broken.join("\n")
    );
}

#[test]
fn server_source_files_stay_small() {
    let root = workspace();
    let mut big = Vec::new();
    for krate in SIZED {
        for file in rust_files(&root.join(krate).join("src")) {
            let lines = std::fs::read_to_string(&file).unwrap().lines().count();
            if lines > MAX_LINES {
                big.push(format!("{} has {lines} lines", relative(&root, &file)));
            }
        }
    }
    assert!(
        big.is_empty(),
        "source files over {MAX_LINES} lines; split them by concern:\n{}",
        big.join("\n")
    );
}

/// Every exception a rule lists is a file that exists, so a rename cannot leave a stale hole.
#[test]
fn exceptions_name_real_files() {
    let root = workspace();
    for file in ACTIX_EXCEPTIONS.iter().chain(REQWEST_OWNERS) {
        assert!(
            root.join(file).is_file(),
            "{file} is named by a tidy rule but is missing"
        );
    }
}

/// The rules can fail: each one finds its needle in a line of code and not in a comment.
#[test]
fn rules_see_code_and_skip_comments() {
    let text = "use rusqlite::Connection; // fine\n/// rusqlite in a doc\nlet x = 1; // reqwest\n";
    let found: Vec<_> = code_lines(text)
        .filter(|(_, l)| l.contains("rusqlite") || l.contains("reqwest"))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(found, [1]);
    let sqlite = &RULES[0];
    assert!((sqlite.allowed)("node/src/store/log.rs"));
    assert!(!(sqlite.allowed)("node/src/domain/records.rs"));
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn relative(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap_or(file);
    rel.to_string_lossy().replace('\\', "/")
}

/// The numbered lines of `text` with any `//` comment cut off.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().map(|(i, line)| {
        let code = line.find("//").map_or(line, |at| &line[..at]);
        (i + 1, code)
    })
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
