//! evfed-node binary.

fn main() -> anyhow::Result<()> {
    println!("evfed-node {}", env!("CARGO_PKG_VERSION"));
    Ok(())
}
