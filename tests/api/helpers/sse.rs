//! A real SSE client for the tests: reads the `text/event-stream` wire format
//! byte by byte from the socket (no shortcuts), with a deadline on every read.

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: Value,
}

pub struct SseClient {
    body: BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl SseClient {
    /// Opens `url`, optionally resuming after `last_event_id`.
    pub async fn connect(url: &str, last_event_id: Option<&str>) -> SseClient {
        let headers: Vec<(&str, String)> = last_event_id
            .map(|id| ("Last-Event-ID", id.to_owned()))
            .into_iter()
            .collect();
        SseClient::connect_with(url, &headers).await
    }

    /// Opens `url` with extra request headers.
    pub async fn connect_with(url: &str, headers: &[(&str, String)]) -> SseClient {
        let mut request = reqwest::Client::new()
            .get(url)
            .header("Accept", "text/event-stream");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.expect("connect");
        assert_eq!(response.status(), 200, "SSE connect to {url}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        SseClient {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event (comments and keep-alives skipped), within `deadline`.
    pub async fn next(&mut self, deadline: Duration) -> SseEvent {
        tokio::time::timeout(deadline, self.next_event())
            .await
            .expect("an SSE event before the deadline")
    }

    /// True once the server ends the stream (events before the end are
    /// skipped); false if it is still open after `within`.
    pub async fn ends_within(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, async {
            while let Some(chunk) = self.body.next().await {
                if chunk.is_err() {
                    break;
                }
            }
        })
        .await
        .is_ok()
    }

    /// The next event, or `None` if none arrives within `wait`.
    pub async fn try_next(&mut self, wait: Duration) -> Option<SseEvent> {
        tokio::time::timeout(wait, self.next_event()).await.ok()
    }

    async fn next_event(&mut self) -> SseEvent {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = ("message".to_owned(), None, Vec::new());
                for line in block.lines() {
                    if line.starts_with(':') || line.is_empty() {
                        continue;
                    }
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "event" => event = value.to_owned(),
                        "id" => id = Some(value.to_owned()),
                        "data" => data.push(value.to_owned()),
                        _ => {}
                    }
                }
                if !data.is_empty() {
                    let data = serde_json::from_str(&data.join("\n")).expect("JSON data");
                    return SseEvent { event, id, data };
                }
            }
            let chunk = self.body.next().await.expect("stream open").expect("chunk");
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
        }
    }
}
