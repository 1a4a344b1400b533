//! The benchmark baseline: a bare axum server answering every POST with a fixed ~100-byte JSON body, on one
//! core like the servers it is compared with. `bare-axum PORT [SPIN_NS]`: with `SPIN_NS`, each request first
//! spins that long on the CPU (no syscall, no allocation): user time added to the floor, to measure what the
//! kernel side of a request costs when the server takes longer per request (the load generator sleeps more,
//! and each reply must wake it).

use axum::Router;
use axum::http::header;
use axum::routing::post;

const REPLY: &str =
    r#"{"data":{"names":["t:0","t:1","t:2"],"ndarray":[[0.0007,0.0037,0.9956]]},"meta":{}}"#;

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(9100);
    let spin = std::time::Duration::from_nanos(
        std::env::args()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = Router::new().fallback(post(move || async move {
            let start = std::time::Instant::now();
            while start.elapsed() < spin {
                std::hint::spin_loop();
            }
            ([(header::CONTENT_TYPE, "application/json")], REPLY)
        }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        axum::serve(listener, app).await
    })
}
