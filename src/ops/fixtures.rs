//! Test fixtures shared by the plan and executor tests.

use crate::model::{ColumnDef, Kind, VendorId};
use crate::vendors::VendorSpec;

pub fn no_columns(_: Kind) -> &'static [ColumnDef] {
    &[]
}

/// A vendor shaped like MicroStrategy (datasources use connections and logins; unused
/// connections and logins are orphans), without its columns.
pub static SPEC: VendorSpec = VendorSpec {
    vendor: VendorId::MicroStrategy,
    kinds: &[Kind::Datasources, Kind::Connections, Kind::Logins],
    orphan_kinds: &[Kind::Connections, Kind::Logins],
    delete_order: &[Kind::Datasources, Kind::Connections, Kind::Logins],
    columns: no_columns,
    can_create: true,
    can_test: true,
    health_checks: &[],
    soft_delete: false,
    impact_container: "project",
    impact_per_minute: None,
    supported: true,
    edit_fields: crate::vendors::change::no_edit,
    update_tests_credentials: false,
};
