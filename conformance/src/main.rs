//! evfed-conformance binary.

fn main() -> anyhow::Result<()> {
    println!("evfed-conformance {}", env!("CARGO_PKG_VERSION"));
    Ok(())
}
