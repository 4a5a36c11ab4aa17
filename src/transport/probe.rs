//! Whether the current tokio runtime has its I/O and time drivers. tokio offers no query and
//! panics when a socket or timer is made without them, so the probes make one and catch that
//! panic, kept quiet: it is an answer, not a failure.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::time::Duration;

thread_local! {
    static PROBING: Cell<bool> = const { Cell::new(false) };
}

/// Whether the runtime can register a socket.
pub(crate) fn has_io() -> bool {
    // Without a loopback socket to try, assume it can: serving will say more.
    let Ok(socket) = std::net::UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0)) else {
        return true;
    };
    if socket.set_nonblocking(true).is_err() {
        return true;
    }
    quietly(move || drop(tokio::net::UdpSocket::from_std(socket)))
}

/// Whether the runtime can make a timer.
pub(crate) fn has_time() -> bool {
    quietly(|| drop(tokio::time::sleep(Duration::ZERO)))
}

/// Runs `f`, true unless it panicked; the panic is not printed. Other threads' panics, and
/// this thread's outside the probe, still reach the hook that was installed before.
fn quietly(f: impl FnOnce()) -> bool {
    static QUIET_HOOK: Once = Once::new();
    QUIET_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !PROBING.with(Cell::get) {
                previous(info);
            }
        }));
    });
    PROBING.with(|p| p.set(true));
    let ok = panic::catch_unwind(AssertUnwindSafe(f)).is_ok();
    PROBING.with(|p| p.set(false));
    ok
}
