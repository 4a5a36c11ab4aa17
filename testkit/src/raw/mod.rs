//! Clients that write the protocol themselves, to misbehave on purpose or to see what a
//! well-behaved client library hides: [`RawH2`] and [`EagerH2`] on HTTP/2, [`RawH3`] on HTTP/3
//! (with [`pump`] for floods and [`check_violations`] for a table of rule breaks), and
//! [`RawSession`] for WebTransport sessions.

mod eager_h2;
mod h2;
mod h3;
mod violation;
mod wt;

pub use eager_h2::{EagerH2, StreamEnd};
pub use h2::{H2Frame, RawH2};
pub use h3::{
    closed_with, describe, is_200_with, pump, read_to_end, stopped_within, Ended, Pumped, RawH3,
};
pub use violation::{after_settings, check_violations, Violation};
pub use wt::{RawSession, WT_DRAFT02, WT_DRAFT07};
