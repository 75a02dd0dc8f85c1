//! evfed-aggregator binary.

fn main() -> anyhow::Result<()> {
    println!("evfed-aggregator {}", env!("CARGO_PKG_VERSION"));
    Ok(())
}
