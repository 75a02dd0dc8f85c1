//! Node benchmarks (written next): start-up, RSS, read throughput, status writes.

fn main() {
    println!("node benchmarks: not written yet");
}
