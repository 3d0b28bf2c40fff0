//! The move journal: one row per tenant being moved, in the registry's
//! database, so that a move interrupted (the process killed, a server
//! restarted) can be resumed or rolled back, and so that the switch of the
//! registry and the journal's phase happen in one transaction.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{ColumnDef, Table};
use sea_orm::{ActiveValue, ConnectionTrait, DbBackend, QueryOrder, Schema};

use super::super::{Location, Placement, registry};
use crate::TenantId;

/// The journal table: one row per tenant whose move has begun and not
/// ended.
pub const MOVES_TABLE: &str = "sea_orm_tenant_moves";

/// How far a move got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MovePhase {
    /// Copying: the tenant lives at the source (the registry says so), the
    /// destination holds a copy in progress. Rolled back by removing the
    /// copy; resumed by copying again.
    Copying,
    /// Switched: the registry names the destination; what is left is
    /// removing the source. Resumed by removing it; no longer rolled back
    /// (move the tenant back instead).
    Switched,
}

impl MovePhase {
    fn as_str(self) -> &'static str {
        match self {
            MovePhase::Copying => "copying",
            MovePhase::Switched => "switched",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [MovePhase::Copying, MovePhase::Switched]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// One row of the journal.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sea_orm_tenant_moves")]
pub struct Model {
    /// The tenant, compared byte for byte as in the registry.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(63))"
    )]
    pub tenant_id: String,
    /// The source's placement.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub from_placement: String,
    /// The source's server.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub from_server: String,
    /// The destination's placement.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub to_placement: String,
    /// The destination's server.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub to_server: String,
    /// [`MovePhase`], as text.
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub phase: String,
}

/// The journal relates to nothing.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A move that has begun and not ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingMove {
    /// The tenant.
    pub tenant: TenantId,
    /// Where it was.
    pub from: Location,
    /// Where it is going.
    pub to: Location,
    /// How far it got.
    pub phase: MovePhase,
}

fn location(placement: &str, server: &str) -> Option<Location> {
    Location::on(server, Placement::parse(placement)?).ok()
}

impl PendingMove {
    fn from_row(row: Model) -> Option<Self> {
        Some(PendingMove {
            from: location(&row.from_placement, &row.from_server)?,
            to: location(&row.to_placement, &row.to_server)?,
            phase: MovePhase::parse(&row.phase)?,
            tenant: TenantId::from(row.tenant_id),
        })
    }
}

/// Creates the journal unless it exists (the key exact on MySQL, as the
/// registry's).
pub(crate) async fn create(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let schema = Schema::new(backend);
    let key = if backend == DbBackend::MySql {
        ColumnType::custom("VARCHAR(63) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    } else {
        Column::TenantId.def().get_column_type().clone()
    };
    let mut create = Table::create();
    create.table(Entity).if_not_exists().col(
        ColumnDef::new_with_type(Column::TenantId, key)
            .not_null()
            .primary_key(),
    );
    for column in [
        Column::FromPlacement,
        Column::FromServer,
        Column::ToPlacement,
        Column::ToServer,
        Column::Phase,
    ] {
        create.col(schema.get_column_def::<Entity>(column));
    }
    match db.execute(&create).await {
        Ok(_) => Ok(()),
        // Two first moves at once (Postgres' catalog race): it is there.
        Err(_) if Entity::find().one(db).await.is_ok() => Ok(()),
        Err(e) => Err(e),
    }
}

fn key_is(tenant: &TenantId) -> sea_orm::sea_query::Expr {
    crate::scope::exact_eq(
        Expr::col(Column::TenantId),
        Expr::val(tenant.as_str().into_owned()),
        true,
    )
}

/// The pending move of `tenant`, if any (none when there is no journal).
pub(crate) async fn read(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Option<PendingMove>, DbErr> {
    match Entity::find().filter(key_is(tenant)).one(db).await {
        Ok(row) => Ok(row.and_then(PendingMove::from_row)),
        Err(e) if registry::is_missing_table(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every pending move, by tenant.
pub(crate) async fn list(db: &impl ConnectionTrait) -> Result<Vec<PendingMove>, DbErr> {
    match Entity::find().order_by_asc(Column::TenantId).all(db).await {
        Ok(rows) => Ok(rows.into_iter().filter_map(PendingMove::from_row).collect()),
        Err(e) if registry::is_missing_table(&e) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Records the beginning of a move.
pub(crate) async fn begin(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    from: &Location,
    to: &Location,
) -> Result<(), DbErr> {
    Entity::insert(ActiveModel {
        tenant_id: ActiveValue::Set(tenant.as_str().into_owned()),
        from_placement: ActiveValue::Set(from.placement().as_str().to_owned()),
        from_server: ActiveValue::Set(from.server().to_owned()),
        to_placement: ActiveValue::Set(to.placement().as_str().to_owned()),
        to_server: ActiveValue::Set(to.server().to_owned()),
        phase: ActiveValue::Set(MovePhase::Copying.as_str().to_owned()),
    })
    .exec_without_returning(db)
    .await
    .map(|_| ())
}

/// Marks the move switched (in the registry's transaction).
pub(crate) async fn switched(db: &impl ConnectionTrait, tenant: &TenantId) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::Phase, Expr::val(MovePhase::Switched.as_str()))
        .filter(key_is(tenant))
        .exec(db)
        .await
        .map(|_| ())
}

/// Ends the move's record.
pub(crate) async fn end(db: &impl ConnectionTrait, tenant: &TenantId) -> Result<(), DbErr> {
    Entity::delete_many()
        .filter(key_is(tenant))
        .exec(db)
        .await
        .map(|_| ())
}
