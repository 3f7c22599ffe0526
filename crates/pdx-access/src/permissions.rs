//! Every permission rule of access control, one named check each. Handlers call these and
//! never compare roles themselves; a refusal names the check, which reaches the 403 body.
//!
//! | check | who passes |
//! |---|---|
//! | `authenticated` | any valid access token |
//! | `manage_organizations` | platform admin |
//! | `view_organization` | anyone for a verified organisation; otherwise its members, platform admins, auditors |
//! | `list_unverified_organizations` | platform admin, auditor |
//! | `edit_organization` | that organisation's admin, platform admin |
//! | `read_members` | that organisation's admin, platform admin, auditor |
//! | `manage_members` | that organisation's admin (platform admin in the platform organisation), platform admin |
//! | `create_api_key` | any user signed in with a password (an API key cannot create keys) |
//! | `list_organization_api_keys` | that organisation's admin (others see their own keys only) |
//! | `revoke_api_key` | the key's creator, that organisation's admin |
//! | `read_audit` | auditor, platform admin |
//! | `read_all_accounts` | auditor, platform admin (others read the usage of their own organisation only) |
//! | `read_accounts` | that organisation's members, auditor, platform admin |

use pdx_core::{OrgKind, OrganizationId, Principal, Role};

use crate::api_keys::ApiKey;
use crate::error::AccessError;
use crate::model::Organization;

fn allow(passes: bool, check: &'static str) -> Result<(), AccessError> {
    if passes {
        Ok(())
    } else {
        Err(AccessError::Forbidden { check })
    }
}

/// Whether the principal administers `org`: its `admin`, or a platform admin acting in the
/// platform organisation (whose administrators hold `platform_admin`).
fn administers(p: &Principal, org: OrganizationId) -> bool {
    p.org == org
        && (p.has(Role::Admin) || (p.org_kind == OrgKind::Platform && p.has(Role::PlatformAdmin)))
}

/// Create organisations, verify enterprises.
pub fn manage_organizations(p: &Principal) -> Result<(), AccessError> {
    allow(p.has(Role::PlatformAdmin), "manage_organizations")
}

/// See an organisation's record.
pub fn view_organization(p: Option<&Principal>, org: &Organization) -> Result<(), AccessError> {
    let passes = org.verified
        || p.is_some_and(|p| p.org == org.id || p.has(Role::PlatformAdmin) || p.has(Role::Auditor));
    allow(passes, "view_organization")
}

/// List organisations still awaiting verification.
pub fn list_unverified_organizations(p: Option<&Principal>) -> Result<(), AccessError> {
    allow(
        p.is_some_and(|p| p.has(Role::PlatformAdmin) || p.has(Role::Auditor)),
        "list_unverified_organizations",
    )
}

/// Edit an organisation's name and contacts.
pub fn edit_organization(p: &Principal, org: OrganizationId) -> Result<(), AccessError> {
    allow(
        administers(p, org) || p.has(Role::PlatformAdmin),
        "edit_organization",
    )
}

/// List an organisation's members.
pub fn read_members(p: &Principal, org: OrganizationId) -> Result<(), AccessError> {
    allow(
        administers(p, org) || p.has(Role::PlatformAdmin) || p.has(Role::Auditor),
        "read_members",
    )
}

/// Add, re-role or remove an organisation's members.
pub fn manage_members(p: &Principal, org: OrganizationId) -> Result<(), AccessError> {
    allow(
        administers(p, org) || p.has(Role::PlatformAdmin),
        "manage_members",
    )
}

/// Create an API key for one's organisation.
pub fn create_api_key(p: &Principal) -> Result<(), AccessError> {
    allow(p.api_key.is_none(), "create_api_key")
}

/// See every API key of the organisation, not only one's own.
pub fn list_organization_api_keys(p: &Principal) -> bool {
    administers(p, p.org)
}

/// Revoke an API key.
pub fn revoke_api_key(p: &Principal, key: &ApiKey) -> Result<(), AccessError> {
    let own = key.user_id == p.user && key.organization_id == p.org;
    allow(own || administers(p, key.organization_id), "revoke_api_key")
}

/// Read the audit trail.
pub fn read_audit(p: &Principal) -> Result<(), AccessError> {
    allow(
        p.has(Role::Auditor) || p.has(Role::PlatformAdmin),
        "read_audit",
    )
}

/// Read every organisation's usage and statements.
pub fn read_all_accounts(p: &Principal) -> bool {
    p.has(Role::Auditor) || p.has(Role::PlatformAdmin)
}

/// Read an organisation's statements.
pub fn read_accounts(p: &Principal, org: OrganizationId) -> Result<(), AccessError> {
    allow(p.org == org || read_all_accounts(p), "read_accounts")
}
