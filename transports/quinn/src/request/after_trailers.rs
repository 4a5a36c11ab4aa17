//! What may follow a request's trailers: unknown and reserved frames, then the end of the
//! stream. Any HEADERS or DATA there is H3_FRAME_UNEXPECTED (RFC 9114 §4.1), which only a
//! server that reads on to the end sees: the frame decoder refuses it as it arrives.

use std::time::Duration;

use super::reader::{Event, RequestReader};
use crate::codes::H3_NO_ERROR;

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
        // HEADERS or DATA here never become events: the decoder closes the connection on
        // them. So whatever comes in time is the end (or the error that ended it).
        if tokio::time::timeout(END_WAIT, reader.event())
            .await
            .is_err()
        {
            reader.stop(H3_NO_ERROR);
        }
    });
}

/// A request with no body announced whose body was dropped unread before its end arrived
/// (a GET whose end was still on its way, after a change of path, say): waits for the end in
/// a task of its own, so a client that sends it gets a clean close rather than a
/// `STOP_SENDING` racing its FIN (which some clients take as the request failing, response
/// and all). Data, or no end within [`END_WAIT`], and the client is asked to stop.
pub(crate) fn await_end(mut reader: RequestReader) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        reader.stop(H3_NO_ERROR);
        return;
    };
    runtime.spawn(async move {
        if !matches!(
            tokio::time::timeout(END_WAIT, reader.event()).await,
            Ok(Ok(Event::End))
        ) {
            reader.stop(H3_NO_ERROR);
        }
    });
}
