//! sea-orm-tenant in one file: two tenants on an in-memory SQLite database,
//! their rows, and every kind of cross-tenant attempt refused.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{Set, Unchanged},
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, Schema, Statement,
};
use sea_orm_tenant::prelude::*;

/// A tenant-owned table: every row has a `tenant_id`.
mod post {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "post")]
    pub struct Model {
        // `(id, tenant_id)` is unique, so a comment can reference the pair.
        #[sea_orm(primary_key, unique_key = "tenant_key")]
        pub id: i32,
        // MySQL/MariaDB run the `/*! */` text: the tenant compares exactly
        // there too (`ACME` is not `acme`); other backends skip it.
        #[sea_orm(unique_key = "tenant_key", extra = "/*!COLLATE utf8mb4_bin*/")]
        pub tenant_id: String,
        pub title: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::comment::Entity")]
        Comment,
    }

    impl Related<super::comment::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Comment.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// Another tenant-owned table, related to `post`.
mod comment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "comment")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        #[sea_orm(extra = "/*!COLLATE utf8mb4_bin*/")]
        pub tenant_id: String,
        pub post_id: i32,
        pub body: String,
    }

    // The reference carries the tenant: the foreign key is
    // `(post_id, tenant_id) -> post (id, tenant_id)`, so a comment can only
    // point at a post of its own tenant, and SeaORM's joins pair the tenants.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::post::Entity",
            from = "(Column::PostId, Column::TenantId)",
            to = "(super::post::Column::Id, super::post::Column::TenantId)"
        )]
        Post,
    }

    impl Related<super::post::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Post.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// A global table: no tenant column, shared by everyone.
mod country {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "country")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

// The one line per entity that opts it in. `country` has none: it is global.
// Each tenant table is declared once for the whole program: the scoped
// builders, and every `TenantConnection`, know it from here.
sea_orm_tenant::tenant_entity!(post::Entity => post::Column::TenantId);
sea_orm_tenant::tenant_entity!(comment::Entity => comment::Column::TenantId);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), DbErr> {
    // Shows the audit line that `unscoped` writes (warnings only, not every query).
    tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .with_target(true)
        .without_time()
        .init();
    let db = Database::connect("sqlite::memory:").await?;
    create_tables(&db).await?;

    let acme = TenantId::from("acme");
    let globex = TenantId::from("globex");

    println!("== Two tenants write their rows (the tenant column is filled in for them)");
    let acme_post = post::Entity::scoped(&acme)
        .insert(post::ActiveModel {
            title: Set("Acme's roadmap".into()),
            ..Default::default()
        })
        .exec_with_returning(&db)
        .await?;
    let globex_post = post::Entity::scoped(&globex)
        .insert(post::ActiveModel {
            title: Set("Globex's secret plan".into()),
            ..Default::default()
        })
        .exec_with_returning(&db)
        .await?;
    comment::Entity::scoped(&acme)
        .insert(comment::ActiveModel {
            post_id: Set(acme_post.id),
            body: Set("ship it".into()),
            ..Default::default()
        })
        .exec(&db)
        .await?;
    println!("   acme   -> {acme_post:?}");
    println!("   globex -> {globex_post:?}");

    println!("\n== Each tenant reads only its own rows");
    for tenant in [&acme, &globex] {
        let titles: Vec<String> = post::Entity::scoped(tenant)
            .find()
            .all(&db)
            .await?
            .into_iter()
            .map(|p| p.title)
            .collect();
        println!("   {tenant:<6} sees {titles:?}");
    }

    println!(
        "\n== Cross-tenant attempts by acme against globex's post #{}",
        globex_post.id
    );
    let s = post::Entity::scoped(&acme);

    let by_id = s.find_by_id(globex_post.id).one(&db).await?;
    report("find_by_id", format!("{by_id:?}"));

    let by_filter = s
        .find()
        .filter(post::Column::Title.contains("secret"))
        .all(&db)
        .await?;
    report(
        "find + filter on its title",
        format!("{} rows", by_filter.len()),
    );

    let mut stolen = globex_post.clone().into_active_model();
    stolen.title = Set("pwned".into());
    report(
        "update globex's model",
        outcome(s.update(stolen).exec(&db).await),
    );

    let forged = post::ActiveModel {
        id: Set(globex_post.id),
        title: Set("pwned".into()),
        ..Default::default()
    };
    report(
        "update by globex's id",
        outcome(s.update(forged).exec(&db).await),
    );

    let moved = post::ActiveModel {
        id: Set(acme_post.id),
        tenant_id: Set("globex".into()),
        ..Default::default()
    };
    report(
        "move own row to globex",
        outcome(s.update(moved).exec(&db).await),
    );

    let mass = s
        .update_many()
        .col_expr(post::Column::TenantId, Expr::value("globex"))
        .exec(&db)
        .await;
    report("update_many writing tenant_id", outcome(mass));

    let deleted = s.delete_by_id(globex_post.id).exec(&db).await?;
    report(
        "delete_by_id",
        format!("{} rows deleted", deleted.rows_affected),
    );

    let deleted = s
        .delete_many()
        .filter(post::Column::Id.eq(globex_post.id))
        .exec(&db)
        .await?;
    report(
        "delete_many + filter",
        format!("{} rows deleted", deleted.rows_affected),
    );

    let planted = post::ActiveModel {
        tenant_id: Set("globex".into()),
        title: Set("planted".into()),
        ..Default::default()
    };
    report(
        "insert into globex",
        outcome(s.insert(planted).exec(&db).await),
    );

    let upsert = s
        .insert(post::ActiveModel {
            id: Set(globex_post.id),
            title: Set("overwritten".into()),
            ..Default::default()
        })
        .on_conflict(
            ScopedOnConflict::column(post::Column::Id)
                .update_column(post::Column::Title)
                .to_owned(),
        )
        .exec(&db)
        .await;
    report("upsert over globex's id", outcome(upsert));

    let reference = comment::Entity::scoped(&acme)
        .insert(comment::ActiveModel {
            post_id: Set(globex_post.id),
            body: Set("acme's comment on globex's post".into()),
            ..Default::default()
        })
        .exec(&db)
        .await;
    report("comment on globex's post", outcome(reference));

    let joined = s.find_also_related(comment::Entity).all(&db).await?;
    report(
        "join posts with comments",
        format!("{} pairs, all acme's", joined.len()),
    );

    let untouched = post::Entity::scoped(&globex)
        .find_by_id(globex_post.id)
        .one(&db)
        .await?;
    println!("\n   globex's post afterwards: {untouched:?}");

    println!("\n== Plain SeaORM and raw SQL through a TenantConnection are confined too");
    let conn = TenantConnection::new(db.clone(), acme.clone());
    let seen = post::Entity::find().all(&conn).await?;
    println!(
        "   post::Entity::find() as acme   -> {} post(s), all acme's",
        seen.len()
    );
    let raw = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT count(*) AS n FROM post",
        ))
        .await?
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()?;
    println!("   raw SELECT count(*) FROM post  -> {raw:?}");
    let sent = conn.confine(Statement::from_string(
        conn.get_database_backend(),
        "SELECT * FROM post",
    ))?;
    println!("   what it sends                  -> {}", sent.sql);
    let pwned = post::ActiveModel {
        id: Unchanged(globex_post.id),
        title: Set("pwned".into()),
        ..Default::default()
    }
    .update(&conn)
    .await;
    report("update globex's row by id", outcome(pwned));
    report(
        "DELETE FROM post; DROP TABLE",
        outcome(
            conn.execute_unprepared("DELETE FROM post; DROP TABLE post")
                .await,
        ),
    );

    println!("\n== The ambient tenant (a tokio task-local, like AsyncLocalStorage)");
    let outside = post::Entity::scoped_current().map(|_| ());
    println!("   outside with_tenant: {outside:?}");
    let count = with_tenant(acme.clone(), async {
        post::Entity::scoped_current()?.find().count(&db).await
    })
    .await?;
    println!("   inside with_tenant(acme): {count} post(s)");

    println!("\n== Global tables belong to no tenant");
    country::ActiveModel {
        code: Set("NZ".into()),
        name: Set("New Zealand".into()),
    }
    .insert(&db)
    .await?;
    let countries = with_tenant(globex.clone(), async {
        country::Entity::find().all(&db).await
    })
    .await?;
    println!("   globex reads the country list: {countries:?}");

    println!("\n== Admin work goes through the audited escape hatch");
    let all = post::Entity::unscoped("quickstart: count every tenant's posts")
        .find()
        .count(&db)
        .await?;
    println!("   unscoped count: {all} (logged as a tracing warning with the reason)");
    Ok(())
}

async fn create_tables(db: &DatabaseConnection) -> Result<(), DbErr> {
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(post::Entity))
        .await?;
    for index in schema.create_index_from_entity(post::Entity) {
        db.execute(&index).await?; // the (id, tenant_id) key comments reference
    }
    db.execute(&schema.create_table_from_entity(comment::Entity))
        .await?;
    db.execute(&schema.create_table_from_entity(country::Entity))
        .await?;
    Ok(())
}

fn report(attempt: &str, result: String) {
    println!("   {attempt:<30} -> {result}");
}

fn outcome<T>(result: Result<T, DbErr>) -> String {
    let err = match result {
        Ok(_) => return "went through (!)".to_owned(),
        Err(err) => err,
    };
    if let Some(refusal) = TenantError::from_db_err(&err) {
        return format!("refused: {refusal}");
    }
    match err {
        DbErr::RecordNotUpdated => "no row of this tenant has that id: nothing changed".to_owned(),
        err => format!("refused by the database: {err}"),
    }
}
