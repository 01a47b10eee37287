//! Who is calling: the `Principal` an API key resolves to, its `Role`, and the role
//! matrix of the API contract as `Principal::may(Action)`.

/// The role an API key carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Full access.
    Admin,
    /// Read the catalog; place, read and cancel its own orders.
    Viewer,
}

impl Role {
    /// Parses `"admin"` or `"viewer"` (exact, lower-case).
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "admin" => Ok(Self::Admin),
            "viewer" => Ok(Self::Viewer),
            _ => Err("must be \"admin\" or \"viewer\"".into()),
        }
    }

    /// The role's wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Viewer => "viewer",
        }
    }
}

/// Something a request may try to do; `Principal::may` decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create, list and revoke API keys.
    ManageKeys,
    /// List, get and search products.
    ReadCatalog,
    /// Create, update, delete and restore products; adjust stock; read the ledger.
    ManageCatalog,
    /// Place orders, and list, read and cancel orders (viewers: their own only).
    UseOrders,
    /// Move orders along the workflow (confirm, ship).
    ChangeOrderStatus,
    /// Read the reports.
    ReadReports,
    /// Read events; manage webhook endpoints and their deliveries.
    ManageWebhooks,
}

/// The id the bootstrap key (the `admin_api_key` variable) is known by: it has no row.
pub const BOOTSTRAP_KEY_ID: i64 = 0;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The API key's id (`BOOTSTRAP_KEY_ID` for the bootstrap key).
    pub key_id: i64,
    /// Who the key was issued to.
    pub owner: String,
    /// What the key may do.
    pub role: Role,
    /// The key's own requests-per-minute limit, when it overrides the service default.
    pub rate_limit_per_minute: Option<u32>,
    /// The key's reference (`api_key::key_ref`, derived from its hash): names its
    /// rate-limit counters and its revocation marker. Unlike the id it is unique across
    /// databases, so counters kept in a shared store (Redis) outlive a recreated database
    /// without being inherited by the next key that gets the same id. Access tokens carry
    /// it, so it must reveal nothing of the key: it is a hash of the key's hash.
    pub key_ref: String,
}

impl Principal {
    /// The bootstrap admin, authenticated by the `admin_api_key` variable (whose
    /// reference this is).
    pub fn bootstrap(key_ref: String) -> Self {
        Self {
            key_id: BOOTSTRAP_KEY_ID,
            owner: "bootstrap".into(),
            role: Role::Admin,
            rate_limit_per_minute: None,
            key_ref,
        }
    }

    /// The role matrix of the API contract. Ownership (a viewer sees only its own
    /// orders) is enforced by the services on top of this.
    pub fn may(&self, action: Action) -> bool {
        match (self.role, action) {
            (Role::Admin, _) => true,
            (Role::Viewer, Action::ReadCatalog | Action::UseOrders) => true,
            (
                Role::Viewer,
                Action::ManageKeys
                | Action::ManageCatalog
                | Action::ChangeOrderStatus
                | Action::ReadReports
                | Action::ManageWebhooks,
            ) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_matrix_matches_the_api_contract() {
        let admin = Principal::bootstrap("ab".repeat(32));
        let viewer = Principal {
            role: Role::Viewer,
            ..admin.clone()
        };
        let matrix = [
            (Action::ManageKeys, false),
            (Action::ReadCatalog, true),
            (Action::ManageCatalog, false),
            (Action::UseOrders, true),
            (Action::ChangeOrderStatus, false),
            (Action::ReadReports, false),
        ];
        for (action, viewer_may) in matrix {
            assert!(admin.may(action), "admin may {action:?}");
            assert_eq!(viewer.may(action), viewer_may, "viewer and {action:?}");
        }
    }

    #[test]
    fn roles_parse_only_their_exact_names() {
        assert_eq!(Role::parse("admin"), Ok(Role::Admin));
        assert_eq!(Role::parse("viewer"), Ok(Role::Viewer));
        for bad in ["Admin", "", "root", " viewer"] {
            assert!(Role::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
