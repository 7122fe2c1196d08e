//! Runs a standalone simulator: `cargo run -p gatehouse-sim --example serve -- [ADDR] [SEED]`.

#[tokio::main]
async fn main() -> Result<(), gatehouse_sim::SimError> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8081".to_string()).parse().expect("ADDR like 127.0.0.1:8081");
    let seed = args.next().map(std::path::PathBuf::from);
    gatehouse_sim::serve(listen, seed).await
}
