//! The demo application of `migrate_tenants` (also used by
//! `benches/migrate_tenants.rs`): five tenant tables in three migrations,
//! and one global table kept in the shared database on Postgres.
#![allow(dead_code)] // the bench and the example each use a part

use sea_orm_migration::prelude::*;

/// The tenants' migrator: `customer` and `product`, then `invoice` and
/// `invoice_line`, then `payment` and an index.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateCustomerProduct),
            Box::new(CreateInvoice),
            Box::new(CreatePayment),
        ]
    }
}

/// The global migrator (Postgres): a `currency` table in `public`, with
/// its own version table.
pub struct GlobalMigrator;

impl MigratorTrait for GlobalMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateCurrency)]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("seaql_migrations_global").into_iden()
    }
}

fn id() -> ColumnDef {
    ColumnDef::new("id")
        .integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn fk(table: &str, column: &str, parent: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(Alias::new(table), Alias::new(column))
        .to(Alias::new(parent), "id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

/// Migration 1.
pub struct CreateCustomerProduct;

impl MigrationName for CreateCustomerProduct {
    fn name(&self) -> &str {
        "m0001_customer_product"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCustomerProduct {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("customer")
                    .col(id())
                    .col(ColumnDef::new("name").string_len(200).not_null())
                    .col(ColumnDef::new("email").string_len(200).null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("product")
                    .col(id())
                    .col(ColumnDef::new("sku").string_len(40).not_null().unique_key())
                    .col(ColumnDef::new("price_cents").big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("product").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("customer").to_owned())
            .await
    }
}

/// Migration 2.
pub struct CreateInvoice;

impl MigrationName for CreateInvoice {
    fn name(&self) -> &str {
        "m0002_invoice"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateInvoice {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("invoice")
                    .col(id())
                    .col(ColumnDef::new("customer_id").integer().not_null())
                    .col(ColumnDef::new("currency").string_len(3).not_null())
                    .col(ColumnDef::new("issued_at").timestamp().not_null())
                    .foreign_key(&mut fk("invoice", "customer_id", "customer"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("invoice_line")
                    .col(id())
                    .col(ColumnDef::new("invoice_id").integer().not_null())
                    .col(ColumnDef::new("product_id").integer().not_null())
                    .col(ColumnDef::new("quantity").integer().not_null())
                    .foreign_key(&mut fk("invoice_line", "invoice_id", "invoice"))
                    .foreign_key(&mut fk("invoice_line", "product_id", "product"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("invoice_line").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("invoice").to_owned())
            .await
    }
}

/// Migration 3.
pub struct CreatePayment;

impl MigrationName for CreatePayment {
    fn name(&self) -> &str {
        "m0003_payment"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreatePayment {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("payment")
                    .col(id())
                    .col(ColumnDef::new("invoice_id").integer().not_null())
                    .col(ColumnDef::new("amount_cents").big_integer().not_null())
                    .col(ColumnDef::new("paid_at").timestamp().not_null())
                    .foreign_key(&mut fk("payment", "invoice_id", "invoice"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_invoice_issued_at")
                    .table("invoice")
                    .col("issued_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_invoice_issued_at")
                    .table("invoice")
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("payment").to_owned())
            .await
    }
}

/// The fourth migration of the scale run: a new column and an index on
/// every tenant's `invoice`.
pub struct AddInvoiceDueDate;

impl MigrationName for AddInvoiceDueDate {
    fn name(&self) -> &str {
        "m0004_invoice_due_on"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddInvoiceDueDate {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("invoice")
                    .add_column(ColumnDef::new("due_on").date().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_invoice_due_on")
                    .table("invoice")
                    .col("due_on")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_invoice_due_on")
                    .table("invoice")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("invoice")
                    .drop_column("due_on")
                    .to_owned(),
            )
            .await
    }
}

/// Global migration: the currencies every tenant's invoices name.
pub struct CreateCurrency;

impl MigrationName for CreateCurrency {
    fn name(&self) -> &str {
        "g0001_currency"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCurrency {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("currency")
                    .if_not_exists()
                    .col(
                        ColumnDef::new("code")
                            .string_len(3)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("name").string_len(60).not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("currency").to_owned())
            .await
    }
}
