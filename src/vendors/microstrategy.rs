//! MicroStrategy Library REST API client (placeholder until the client lands).

use super::{ApiError, ClientSettings, DeleteOutcome, Snapshot, VendorApi, VendorSpec};
use crate::model::{cells, ColWidth, ColumnDef, Kind, Ref, Resource, VendorId};
use futures::future::BoxFuture;

fn columns(_kind: Kind) -> &'static [ColumnDef] {
    &[ColumnDef {
        title: "Name",
        width: ColWidth::Fill(20),
        cell: cells::name,
        sort_key: None,
    }]
}

pub static SPEC: VendorSpec = VendorSpec {
    vendor: VendorId::MicroStrategy,
    kinds: &[Kind::Datasources, Kind::Connections, Kind::Logins],
    orphan_kinds: &[Kind::Connections, Kind::Logins],
    delete_order: &[Kind::Datasources, Kind::Connections, Kind::Logins],
    columns,
    can_create: true,
    can_test: true,
    soft_delete: false,
    supported: true,
};

pub struct MstrClient {
    settings: ClientSettings,
}

impl MstrClient {
    pub fn new(settings: ClientSettings) -> Result<Self, ApiError> {
        Ok(MstrClient { settings })
    }
    fn todo<T>(&self) -> Result<T, ApiError> {
        Err(ApiError::Setup {
            vendor: VendorId::MicroStrategy,
            message: format!("{}: client not implemented", self.settings.profile),
        })
    }
}

impl VendorApi for MstrClient {
    fn vendor(&self) -> VendorId {
        VendorId::MicroStrategy
    }
    fn load(&self) -> BoxFuture<'_, Result<Snapshot, ApiError>> {
        Box::pin(async move { self.todo() })
    }
    fn get(&self, _t: Ref) -> BoxFuture<'_, Result<Resource, ApiError>> {
        Box::pin(async move { self.todo() })
    }
    fn delete(&self, _t: Ref) -> BoxFuture<'_, Result<DeleteOutcome, ApiError>> {
        Box::pin(async move { self.todo() })
    }
    fn create(
        &self,
        _k: Kind,
        _b: serde_json::Value,
    ) -> BoxFuture<'_, Result<Resource, ApiError>> {
        Box::pin(async move { self.todo() })
    }
    fn test_connection(&self, _id: String) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(async move { self.todo() })
    }
    fn logout(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {})
    }
}
