//! CSV exports (`Accept: text/csv` on a list): every matching row, streamed as it is
//! read from the database, so an export of any size holds only a few rows in memory:
//! the rows go through a small bounded channel, and the reading waits while the
//! client is slow.

use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use tokio::sync::mpsc;

/// Whether the client asked for CSV.
pub fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv")))
}

/// Where an export writes its rows.
pub struct CsvWriter {
    buffer: String,
    sender: mpsc::Sender<Result<Bytes, std::io::Error>>,
}

/// What flushes at once.
const CHUNK: usize = 32 * 1024;

impl CsvWriter {
    /// One row: each field quoted when it must be. Free text (`Field::Text`) that a
    /// spreadsheet would read as a formula is prefixed with `'`.
    pub async fn row(&mut self, fields: &[Field<'_>]) -> Result<(), Gone> {
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                self.buffer.push(',');
            }
            let (text, formula_guard) = match field {
                Field::Raw(t) => (*t, false),
                Field::Text(t) => (*t, t.starts_with(['=', '+', '-', '@', '\t', '\r'])),
            };
            if formula_guard || text.contains([',', '"', '\n', '\r']) {
                self.buffer.push('"');
                if formula_guard {
                    self.buffer.push('\'');
                }
                self.buffer.push_str(&text.replace('"', "\"\""));
                self.buffer.push('"');
            } else {
                self.buffer.push_str(text);
            }
        }
        self.buffer.push_str("\r\n");
        if self.buffer.len() >= CHUNK { self.flush().await } else { Ok(()) }
    }

    /// Sends what is buffered.
    pub async fn flush(&mut self) -> Result<(), Gone> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buffer));
        self.sender.send(Ok(chunk)).await.map_err(|_| Gone)
    }

    /// Ends the export with an error: the client sees a cut-off body, never a partial
    /// file passed off as whole.
    pub async fn fail(self, e: sqlx::Error) {
        tracing::error!(error = %e, "an export failed while reading");
        let _ = self.sender.send(Err(std::io::Error::other("the export failed"))).await;
    }
}

/// The client went away: stop reading.
#[derive(Debug)]
pub struct Gone;

/// A CSV field.
pub enum Field<'a> {
    /// A value Gatehouse wrote (ids, numbers, states, times).
    Raw(&'a str),
    /// Text a person wrote (names, usernames).
    Text(&'a str),
}

/// A streamed CSV answer named `name.csv`; `produce` writes the header and rows.
pub fn csv<F, Fut>(name: &str, produce: F) -> Response
where
    F: FnOnce(CsvWriter) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (sender, mut receiver) = mpsc::channel(4);
    tokio::spawn(produce(CsvWriter { buffer: String::new(), sender }));
    let stream = futures::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.csv\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fields_are_quoted_when_they_must_be_and_formulas_are_defused() {
        let (sender, mut receiver) = mpsc::channel(4);
        let mut w = CsvWriter { buffer: String::new(), sender };
        w.row(&[
            Field::Raw("1"),
            Field::Text("a,b"),
            Field::Text("say \"hi\""),
            Field::Text("=SUM(A1)"),
            Field::Raw("-5"),
        ])
        .await
        .unwrap();
        w.flush().await.unwrap();
        let chunk = receiver.recv().await.unwrap().unwrap();
        assert_eq!(&chunk[..], b"1,\"a,b\",\"say \"\"hi\"\"\",\"'=SUM(A1)\",-5\r\n");
    }

    #[test]
    fn csv_is_asked_for_by_accept() {
        let mut h = HeaderMap::new();
        assert!(!wants_csv(&h));
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json, text/csv;q=0.9"));
        assert!(wants_csv(&h));
    }
}
