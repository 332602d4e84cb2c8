//! Temporary files for bodies that must not be held in memory or tie up a database connection:
//! request bodies of bulk loads (read in full before the load takes a connection) and exports
//! (written in full before the client reads them). Files are unlinked as soon as they are
//! opened, so a crash leaves nothing behind.

use std::time::{Duration, Instant};

use actix_web::web;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// A new temporary file, already unlinked: a handle to write and one to read from the start.
pub fn anonymous_file() -> Result<(std::fs::File, std::fs::File), ApiError> {
    let path = std::env::temp_dir().join(format!("samverkan-{}", uuid::Uuid::new_v4().simple()));
    let writer = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(ApiError::internal)?;
    let reader = std::fs::File::open(&path);
    let _ = std::fs::remove_file(&path);
    Ok((writer, reader.map_err(ApiError::internal)?))
}

/// Reads the next chunk of a request body, or 408 when none arrives within `idle`.
pub async fn next_chunk(
    payload: &mut actix_web::dev::Payload,
    idle: Duration,
) -> Result<Option<web::Bytes>, ApiError> {
    match tokio::time::timeout(idle, payload.next()).await {
        Ok(Some(chunk)) => chunk.map(Some).map_err(crate::http::payload_error),
        Ok(None) => Ok(None),
        Err(_) => Err(ApiError::RequestTimeout(format!(
            "The request body stopped arriving: nothing came for {} seconds",
            idle.as_secs()
        ))),
    }
}

/// Writes a request body to a temporary file (413 beyond `max_bytes`, 408 when it stalls for
/// `idle`), hashing it on the way when asked; returns a handle that reads it from the start.
pub async fn body_to_file(
    payload: &mut actix_web::dev::Payload,
    mut hasher: Option<&mut Sha256>,
    max_bytes: u64,
    idle: Duration,
) -> Result<std::fs::File, ApiError> {
    use tokio::io::AsyncWriteExt;
    let (writer, reader) = anonymous_file()?;
    let mut file =
        tokio::io::BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(writer));
    let mut total = 0u64;
    while let Some(chunk) = next_chunk(payload, idle).await? {
        total += chunk.len() as u64;
        if total > max_bytes {
            return Err(ApiError::PayloadTooLarge(
                usize::try_from(max_bytes).unwrap_or(usize::MAX),
            ));
        }
        if let Some(h) = hasher.as_deref_mut() {
            h.update(&chunk);
        }
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    file.flush().await.map_err(ApiError::internal)?;
    Ok(reader)
}

/// A request payload read back from a file.
pub fn file_payload(file: std::fs::File) -> actix_web::dev::Payload {
    let stream = chunks(file).map(|r| r.map_err(actix_web::error::PayloadError::Io));
    actix_web::dev::Payload::Stream {
        payload: Box::pin(stream),
    }
}

fn chunks(
    file: std::fs::File,
) -> impl futures_util::Stream<Item = Result<web::Bytes, std::io::Error>> + 'static {
    use tokio::io::AsyncReadExt;
    futures_util::stream::unfold(Some(tokio::fs::File::from_std(file)), |state| async move {
        let mut file = state?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(web::Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// A response body read from a file, ending with an error (the connection is cut) once
/// `deadline` has passed; `guard` is held until the body is done or dropped.
pub fn stream_file<G: 'static>(
    file: std::fs::File,
    deadline: Instant,
    guard: G,
) -> impl futures_util::Stream<Item = Result<web::Bytes, std::io::Error>> + 'static {
    chunks(file).map(move |chunk| {
        let _held = &guard;
        if Instant::now() > deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the export deadline passed before the client read it all",
            ));
        }
        chunk
    })
}
