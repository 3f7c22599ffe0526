//! Shared vocabulary of PDX: identifiers, roles and principals, the clock and request ids.
//! Nothing here performs I/O; every other crate depends on this one.

pub mod classification;
pub mod clock;
pub mod id;
pub mod paging;
pub mod principal;
pub mod request_id;
pub mod slug;

pub use classification::{
    Classification, ClassificationViolation, DataGrade, OpeningClass, SharingClass,
};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use id::{
    AccessRequestId, ApiKeyId, AuditEventId, DatasetId, DistributionId, GrantId, InstanceId,
    OrganizationId, RefreshTokenId, UserId,
};
pub use paging::{Page, PageRequest};
pub use principal::{OrgKind, Principal, Role, RoleSet, UnknownName};
pub use request_id::RequestId;
