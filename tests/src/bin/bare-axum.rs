//! The benchmark baseline: a bare axum server answering every POST with a fixed ~100-byte JSON body, on one
//! core like the servers it is compared with. `bare-axum PORT`.

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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = Router::new().fallback(post(|| async {
            ([(header::CONTENT_TYPE, "application/json")], REPLY)
        }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        axum::serve(listener, app).await
    })
}
