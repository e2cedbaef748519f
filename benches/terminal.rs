//! Benchmark terminal (being written).

fn main() {}
