//! Shared vocabulary of PDX: identifiers, the clock and request ids.
//! Nothing here performs I/O; every other crate depends on this one.

pub mod clock;
pub mod id;
pub mod request_id;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use id::InstanceId;
pub use request_id::RequestId;
