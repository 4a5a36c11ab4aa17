//! [`Registry`]: the live WebTransport sessions of one connection, which streams and
//! datagrams the client sends are routed to by session id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::stream::{RecvStream, SendStream};
use super::wire::{code, get_varint, STREAM_REJECTED};
use crate::codes::H3_DATAGRAM_ERROR;
use crate::proto::error::ProtoError;

/// The largest quarter stream id: a quarter of the largest stream id, 2^62 - 1.
const MAX_QUARTER_STREAM_ID: u64 = (1 << 60) - 1;
/// How many received datagrams wait for the handler before new ones are dropped.
const DATAGRAM_QUEUE: usize = 256;

struct Entry {
    bi: mpsc::UnboundedSender<(SendStream, RecvStream)>,
    uni: mpsc::UnboundedSender<RecvStream>,
    datagrams: mpsc::Sender<Bytes>,
    streams: Arc<Semaphore>,
    gone: Arc<AtomicBool>,
}

/// The live sessions of one connection, by session id (the CONNECT stream's id).
pub(crate) struct Registry {
    sessions: Mutex<HashMap<u64, Entry>>,
    max_sessions: usize,
    max_streams: usize,
}

/// What a registered session reads from.
pub(crate) struct Inbox {
    pub(crate) bi: mpsc::UnboundedReceiver<(SendStream, RecvStream)>,
    pub(crate) uni: mpsc::UnboundedReceiver<RecvStream>,
    pub(crate) datagrams: mpsc::Receiver<Bytes>,
    pub(crate) gone: Arc<AtomicBool>,
}

/// Unregisters a session when dropped; its streams still held then are reset.
pub(crate) struct Registration {
    registry: Arc<Registry>,
    id: u64,
    gone: Arc<AtomicBool>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.gone.store(true, Ordering::Release);
        if let Ok(mut sessions) = self.registry.sessions.lock() {
            sessions.remove(&self.id);
        }
    }
}

impl Registry {
    pub(crate) fn new(max_sessions: usize, max_streams: usize) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            max_sessions,
            max_streams,
        }
    }

    /// Registers session `id`, or `None` when the connection has as many as it may.
    pub(crate) fn register(self: &Arc<Self>, id: u64) -> Option<(Registration, Inbox)> {
        let mut sessions = self.sessions.lock().ok()?;
        if sessions.len() >= self.max_sessions || sessions.contains_key(&id) {
            return None;
        }
        let (bi_tx, bi) = mpsc::unbounded_channel();
        let (uni_tx, uni) = mpsc::unbounded_channel();
        let (dg_tx, datagrams) = mpsc::channel(DATAGRAM_QUEUE);
        let gone = Arc::new(AtomicBool::new(false));
        sessions.insert(
            id,
            Entry {
                bi: bi_tx,
                uni: uni_tx,
                datagrams: dg_tx,
                streams: Arc::new(Semaphore::new(self.max_streams)),
                gone: gone.clone(),
            },
        );
        let reg = Registration {
            registry: self.clone(),
            id,
            gone: gone.clone(),
        };
        Some((
            reg,
            Inbox {
                bi,
                uni,
                datagrams,
                gone,
            },
        ))
    }

    /// A permit for one more stream of session `id`, and the session's "gone" flag.
    fn admit(&self, id: u64) -> Option<(OwnedSemaphorePermit, Arc<AtomicBool>)> {
        let sessions = self.sessions.lock().ok()?;
        let entry = sessions.get(&id)?;
        let permit = entry.streams.clone().try_acquire_owned().ok()?;
        Some((permit, entry.gone.clone()))
    }

    /// Hands a bidirectional stream the client opened to session `id`.
    pub(crate) fn deliver_bi(
        &self,
        id: u64,
        mut send: quinn::SendStream,
        mut recv: quinn::RecvStream,
    ) {
        let Some((permit, gone)) = self.admit(id) else {
            let _ = send.reset(code(STREAM_REJECTED));
            let _ = recv.stop(code(STREAM_REJECTED));
            return;
        };
        let permit = Arc::new(permit);
        let pair = (
            SendStream::new(send, gone.clone(), Some(permit.clone())),
            RecvStream::new(recv, gone, Some(permit)),
        );
        if let Ok(sessions) = self.sessions.lock() {
            if let Some(entry) = sessions.get(&id) {
                // A closed receiver drops the pair, which resets it.
                let _ = entry.bi.send(pair);
            }
        }
    }

    /// Hands a unidirectional stream the client opened to session `id`.
    pub(crate) fn deliver_uni(&self, id: u64, mut recv: quinn::RecvStream) {
        let Some((permit, gone)) = self.admit(id) else {
            let _ = recv.stop(code(STREAM_REJECTED));
            return;
        };
        let stream = RecvStream::new(recv, gone, Some(Arc::new(permit)));
        if let Ok(sessions) = self.sessions.lock() {
            if let Some(entry) = sessions.get(&id) {
                let _ = entry.uni.send(stream);
            }
        }
    }

    /// Hands a datagram to its session; unknown sessions' and overflowing datagrams are
    /// dropped (datagrams are unreliable anyway). RFC 9297 §2.1: one too short for its
    /// quarter stream id, or with one above 2^60 - 1, is H3_DATAGRAM_ERROR.
    pub(crate) fn deliver_datagram(&self, mut datagram: Bytes) -> Result<(), ProtoError> {
        let quarter = get_varint(&mut datagram).ok_or(ProtoError::connection(
            H3_DATAGRAM_ERROR,
            "a datagram too short for its quarter stream id",
        ))?;
        if quarter > MAX_QUARTER_STREAM_ID {
            return Err(ProtoError::connection(
                H3_DATAGRAM_ERROR,
                "a datagram's quarter stream id above 2^60 - 1",
            ));
        }
        if let Ok(sessions) = self.sessions.lock() {
            if let Some(entry) = sessions.get(&(quarter * 4)) {
                let _ = entry.datagrams.try_send(datagram);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_limits_sessions() {
        let registry = Arc::new(Registry::new(2, 4));
        let a = registry.register(0).unwrap();
        assert!(registry.register(0).is_none(), "the same id twice");
        let _b = registry.register(4).unwrap();
        assert!(registry.register(8).is_none(), "a third session");
        drop(a);
        assert!(registry.register(8).is_some(), "a slot freed by the first");
    }

    #[test]
    fn datagrams_without_a_valid_quarter_stream_id_are_errors() {
        let registry = Registry::new(2, 4);
        let largest = Bytes::from_static(&[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert!(registry.deliver_datagram(largest).is_ok());
        for bad in [&[][..], &[0x40], &[0xd0, 0, 0, 0, 0, 0, 0, 0]] {
            let e = registry
                .deliver_datagram(Bytes::copy_from_slice(bad))
                .unwrap_err();
            assert_eq!(e.code, H3_DATAGRAM_ERROR, "{bad:?}");
            assert!(e.is_connection());
        }
    }
}
