//! A minimal Server-Sent Events reader over a chunked HTTP body.

/// Splits a byte stream into `(event, data)` messages.
#[derive(Default)]
pub struct SseReader {
    buffer: String,
}

impl SseReader {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<(String, String)> {
        self.buffer
            .push_str(&String::from_utf8_lossy(chunk).replace('\r', ""));
        let mut messages = Vec::new();
        while let Some(end) = self.buffer.find("\n\n") {
            let block: String = self.buffer.drain(..end + 2).collect();
            let mut event = String::from("message");
            let mut data = String::new();
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event:") {
                    event = name.trim().to_owned();
                } else if let Some(d) = line.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(d.strip_prefix(' ').unwrap_or(d));
                }
            }
            if !data.is_empty() {
                messages.push((event, data));
            }
        }
        messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_across_chunks_are_reassembled() {
        let mut reader = SseReader::default();
        assert!(reader.push(b": keep-alive\n\nevent: posi").is_empty());
        let got = reader.push(b"tion\ndata: {\"position\":3}\n\nid: 4\nevent: delta\ndata: {}\n\n");
        assert_eq!(
            got,
            vec![
                ("position".to_owned(), "{\"position\":3}".to_owned()),
                ("delta".to_owned(), "{}".to_owned())
            ]
        );
    }
}
