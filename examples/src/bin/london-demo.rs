//! london-demo: boots a whole local London federation (borough and operator nodes and the
//! aggregator) on loopback with synthetic data.

fn main() -> std::process::ExitCode {
    eprintln!(
        "london-demo: the demo federation needs the node and the aggregator, which are not built yet.\n\
         What exists today is the standard's core in spec/: run `cargo test --workspace` and\n\
         `cargo bench -p evfed-spec --bench log`, and read spec/STANDARD.md."
    );
    std::process::ExitCode::from(2)
}
