//! Slow and silent clients are disconnected (SPEC rule 8, issue 13): each
//! case drives a raw socket the way the probe did and waits, with a bound,
//! for the server to close it.

use std::time::Duration;
use testkit::{spawn_app, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

async fn connect(app: &TestApp) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    TcpStream::connect(address)
        .await
        .unwrap_or_else(|e| panic!("connecting to {address}: {e}"))
}

/// Reads until the server closes the connection (or resets it) and returns
/// what it sent and how long that took; panics if it is still open after
/// `limit`.
async fn until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(started + limit, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "still open after {limit:?}; got {:?}",
                String::from_utf8_lossy(&seen)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    String::from_utf8_lossy(&seen).into_owned(),
                    started.elapsed(),
                )
            }
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed() {
    let app = spawn_app().await;
    let mut silent = connect(&app).await;
    let (_, took) = until_closed(&mut silent, Duration::from_secs(20)).await;
    assert!(took >= Duration::from_secs(5), "closed too soon: {took:?}");
}

#[tokio::test]
async fn headers_dripped_too_slowly_are_cut_off() {
    let app = spawn_app().await;
    let mut slow = connect(&app).await;
    let started = Instant::now();
    let mut closed = false;
    // One header line every 2 s, never the blank line that ends them.
    for i in 0..15 {
        let line = if i == 0 {
            "GET /healthz HTTP/1.1\r\nHost: x\r\n".to_owned()
        } else {
            format!("X-Drip-{i}: y\r\n")
        };
        if slow.write_all(line.as_bytes()).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_secs(2), slow.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    assert!(closed, "the server kept reading headers for 30 s");
    assert!(started.elapsed() <= Duration::from_secs(20));
}

#[tokio::test]
async fn a_body_promised_and_never_sent_is_cut_off() {
    let app = spawn_app().await;
    let mut stalled = connect(&app).await;
    stalled
        .write_all(
            b"POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\"",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (answer, took) = until_closed(&mut stalled, Duration::from_secs(45)).await;
    assert!(took >= Duration::from_secs(20), "closed too soon: {took:?}");
    // Whatever it answered, nobody was registered by half a body.
    if !answer.is_empty() {
        assert!(!answer.starts_with("HTTP/1.1 2"), "{answer}");
    }
    assert_eq!(app.number("select count(*) from users").await, 0);
}

#[tokio::test]
async fn a_kept_alive_connection_serves_requests_then_closes_when_idle() {
    let app = spawn_app().await;
    let mut client = connect(&app).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    for _ in 0..2 {
        client
            .write_all(request)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no answer"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
    }
    let (_, took) = until_closed(&mut client, Duration::from_secs(70)).await;
    assert!(took >= Duration::from_secs(5), "closed too soon: {took:?}");
}
