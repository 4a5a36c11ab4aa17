//! What may follow a request's trailers: unknown and reserved frames, then the end of the
//! stream. Any HEADERS or DATA there is H3_FRAME_UNEXPECTED (RFC 9114 §4.1), which only a
//! server that reads on to the end sees.

use std::time::Duration;

use super::reader::{Event, RequestReader};
use crate::codes::{H3_FRAME_UNEXPECTED, H3_NO_ERROR};
use crate::proto::error::ProtoError;

/// How long a client has to end a request stream once its trailers have come.
const END_WAIT: Duration = Duration::from_secs(5);

/// Reads `reader`, whose trailers have been read, to the end of its stream in a task of its
/// own (its request is answered meanwhile): a frame there that breaks the order closes the
/// connection; a client that does not end the stream within [`END_WAIT`] is asked to stop.
pub(crate) fn read_to_end(mut reader: RequestReader) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        reader.stop(H3_NO_ERROR);
        return;
    };
    runtime.spawn(async move {
        match tokio::time::timeout(END_WAIT, reader.event()).await {
            // The decoder refuses such frames before they become events (a connection
            // error, closed by the reader): this is the same rule, should one get through.
            Ok(Ok(Event::Headers(_) | Event::Data(_))) => reader.ctx().fail(
                &ProtoError::connection(H3_FRAME_UNEXPECTED, "HEADERS or DATA after the trailers"),
            ),
            Ok(Ok(Event::End) | Err(_)) => {}
            Err(_) => reader.stop(H3_NO_ERROR),
        }
    });
}
