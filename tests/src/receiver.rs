//! [`Receiver`]: an integrator's webhook endpoint for tests and benchmarks, an axum
//! server on 127.0.0.1 that records every request and answers 500 to the first
//! `fail_first` of them (or to all, with `usize::MAX`), 200 after.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// `Gatehouse-Signature`.
    pub signature: String,
    /// `Gatehouse-Event-Id`.
    pub event_id: String,
    /// The raw body.
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub answered: u16,
}

#[derive(Default)]
struct Book {
    fail_first: usize,
    received: Vec<Received>,
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    book: Arc<Mutex<Book>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Starts a receiver that fails its first `fail_first` requests with a 500.
    pub async fn start(fail_first: usize) -> Self {
        let book = Arc::new(Mutex::new(Book { fail_first, received: Vec::new() }));
        let app = axum::Router::new().route("/hook", post(receive)).with_state(book.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, book, task }
    }

    /// `http://127.0.0.1:<port>/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.book.lock().expect("book").received.clone()
    }

    /// How many requests so far.
    pub fn count(&self) -> usize {
        self.book.lock().expect("book").received.len()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(book): State<Arc<Mutex<Book>>>, headers: HeaderMap, body: Bytes) -> (StatusCode, &'static str) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let mut book = book.lock().expect("book");
    let fail = book.received.len() < book.fail_first;
    let answered = if fail { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
    book.received.push(Received {
        signature: header("gatehouse-signature"),
        event_id: header("gatehouse-event-id"),
        body: body.to_vec(),
        answered: answered.as_u16(),
    });
    (answered, if fail { "receiver down" } else { "ok" })
}
