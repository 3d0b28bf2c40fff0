//! An existing SeaORM service adopts the tenant connection: every call it
//! makes is confined to the tenant (rule 12), without touching its queries.
//!
//! ```text
//! cargo run --example service
//! ```
//!
//! SeaORM's examples (the `service` crate of `axum_example` and its
//! siblings) write the data layer as `Query` and `Mutation` functions that
//! take `db: &DbConn`. A [`TenantConnection`] is not a `DatabaseConnection`,
//! so it cannot be passed there; but every SeaORM call in those functions
//! (`find_by_id(..).one(db)`, `paginate(db, ..)`, `ActiveModel::save(db)`,
//! `delete_many().exec(db)`) only needs a [`ConnectionTrait`], which the
//! tenant connection implements. So the whole adoption is the signatures,
//! and the caller hands in the request's tenant connection:
//!
//! ```diff
//!  impl Query {
//! -    pub async fn find_post_by_id(db: &DbConn, id: i32) -> Result<Option<post::Model>, DbErr> {
//! +    pub async fn find_post_by_id(db: &impl ConnectionTrait, id: i32) -> Result<Option<post::Model>, DbErr> {
//! -    pub async fn find_posts_in_page(db: &DbConn, page: u64, posts_per_page: u64)
//! +    pub async fn find_posts_in_page(db: &impl ConnectionTrait, page: u64, posts_per_page: u64)
//!  impl Mutation {
//! -    pub async fn create_post(db: &DbConn, form_data: post::Model) -> Result<post::ActiveModel, DbErr> {
//! +    pub async fn create_post(db: &impl ConnectionTrait, form_data: post::Model) -> Result<post::ActiveModel, DbErr> {
//! -    pub async fn update_post_by_id(db: &DbConn, id: i32, form_data: post::Model) -> Result<post::Model, DbErr> {
//! +    pub async fn update_post_by_id(db: &impl ConnectionTrait, id: i32, form_data: post::Model) -> Result<post::Model, DbErr> {
//! -    pub async fn delete_post(db: &DbConn, id: i32) -> Result<DeleteResult, DbErr> {
//! +    pub async fn delete_post(db: &impl ConnectionTrait, id: i32) -> Result<DeleteResult, DbErr> {
//! -    pub async fn delete_all_posts(db: &DbConn) -> Result<DeleteResult, DbErr> {
//! +    pub async fn delete_all_posts(db: &impl ConnectionTrait) -> Result<DeleteResult, DbErr> {
//!
//!  // In the handler:
//! -    let post = QueryCore::find_post_by_id(&state.conn, id).await?;
//! +    let conn = state.tenancy.connection(&tenant).await?; // the request's TenantConnection
//! +    let post = QueryCore::find_post_by_id(&conn, id).await?;
//! ```
//!
//! Why not SeaORM's `proxy` connection, which would keep `&DbConn`: it
//! needs SeaORM's `proxy` feature, and a proxy hands every result row back
//! as a `ProxyRow` (a map of `sea_query::Value`s) that the proxy must build
//! from the driver's row, which costs a conversion per row and loses what
//! the driver knows about types (decimals, JSON, date and time values
//! arrive through that generic conversion). And a `DatabaseConnection`
//! that silently is not one would surprise the next reader: with
//! `&impl ConnectionTrait` the signature says the service runs on whatever
//! connection it is given, and the caller's `&tenant_conn` says which.

use std::error::Error;

use sea_orm::{Database, DbBackend, DbErr, EntityTrait, QueryTrait, TryIntoModel};
use sea_orm_tenant::doc_entities::{self, post};
use sea_orm_tenant::prelude::*;

/// The service, as in SeaORM's examples, with `&impl ConnectionTrait` for
/// `&DbConn`. Nothing in it knows about tenants.
mod service {
    use sea_orm::*;
    use sea_orm_tenant::doc_entities::post;
    use sea_orm_tenant::doc_entities::post::Entity as Post;

    /// Reads.
    pub struct Query;

    impl Query {
        /// One post by its id.
        pub async fn find_post_by_id(
            db: &impl ConnectionTrait,
            id: i32,
        ) -> Result<Option<post::Model>, DbErr> {
            Post::find_by_id(id).one(db).await
        }

        /// One page of posts (0-based) and the number of pages.
        pub async fn find_posts_in_page(
            db: &impl ConnectionTrait,
            page: u64,
            posts_per_page: u64,
        ) -> Result<(Vec<post::Model>, u64), DbErr> {
            let paginator = Post::find()
                .order_by_asc(post::Column::Id)
                .paginate(db, posts_per_page);
            let num_pages = paginator.num_pages().await?;
            paginator.fetch_page(page).await.map(|p| (p, num_pages))
        }
    }

    /// Writes.
    pub struct Mutation;

    impl Mutation {
        /// A new post with the form's title (its id and tenant are ignored).
        pub async fn create_post(
            db: &impl ConnectionTrait,
            form_data: post::Model,
        ) -> Result<post::ActiveModel, DbErr> {
            post::ActiveModel {
                title: Set(form_data.title.to_owned()),
                ..Default::default()
            }
            .save(db)
            .await
        }

        /// Sets the title of post `id`.
        pub async fn update_post_by_id(
            db: &impl ConnectionTrait,
            id: i32,
            form_data: post::Model,
        ) -> Result<post::Model, DbErr> {
            let post: post::ActiveModel = Post::find_by_id(id)
                .one(db)
                .await?
                .ok_or(DbErr::Custom("Cannot find post.".to_owned()))
                .map(Into::into)?;

            post::ActiveModel {
                id: post.id,
                tenant_id: post.tenant_id,
                title: Set(form_data.title.to_owned()),
            }
            .update(db)
            .await
        }

        /// Deletes post `id`.
        pub async fn delete_post(
            db: &impl ConnectionTrait,
            id: i32,
        ) -> Result<DeleteResult, DbErr> {
            let post: post::ActiveModel = Post::find_by_id(id)
                .one(db)
                .await?
                .ok_or(DbErr::Custom("Cannot find post.".to_owned()))
                .map(Into::into)?;

            post.delete(db).await
        }

        /// Deletes every post.
        pub async fn delete_all_posts(db: &impl ConnectionTrait) -> Result<DeleteResult, DbErr> {
            Post::delete_many().exec(db).await
        }
    }
}

use service::{Mutation, Query};

/// The form a handler would deserialize; the service reads its title only.
fn form(title: &str) -> post::Model {
    post::Model {
        id: 0,
        tenant_id: String::new(),
        title: title.to_owned(),
    }
}

/// The titles of every post `conn` can see, in id order.
async fn titles(conn: &TenantConnection) -> Result<Vec<String>, DbErr> {
    let (posts, _) = Query::find_posts_in_page(conn, 0, 100).await?;
    Ok(posts.into_iter().map(|p| p.title).collect())
}

/// Two tenants run the unchanged service on their tenant connections.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    // One shared database; `post` is a tenant table of the tenancy, so
    // every statement its connections send on `post` is confined.
    let db = Database::connect("sqlite::memory:").await?;
    doc_entities::create_table(&db, post::Entity).await?;
    let tenancy = Tenancy::shared_schema(db.clone()).tenant_table::<post::Entity>();
    let (acme_id, globex_id) = (TenantId::from("acme"), TenantId::from("globex"));
    tenancy.provision(&acme_id).await?;
    tenancy.provision(&globex_id).await?;
    let acme = tenancy.connection(&acme_id).await?;
    let globex = tenancy.connection(&globex_id).await?;

    // Each tenant writes through the unchanged service; the connection
    // fills in the tenant column.
    for title in ["acme 1", "acme 2", "acme 3"] {
        Mutation::create_post(&acme, form(title)).await?;
    }
    let mut theirs = Vec::new();
    for title in ["globex 1", "globex 2"] {
        let post = Mutation::create_post(&globex, form(title)).await?;
        theirs.push(post.try_into_model()?.id);
    }
    let (page, pages) = Query::find_posts_in_page(&acme, 0, 2).await?;
    println!(
        "acme, page 1 of {pages}: {:?}",
        page.iter().map(|p| &p.title).collect::<Vec<_>>()
    );
    assert_eq!(pages, 2, "three posts of acme, two per page");
    assert!(page.iter().all(|p| p.tenant_id == "acme"));
    println!("acme sees:   {:?}", titles(&acme).await?);
    println!("globex sees: {:?}", titles(&globex).await?);
    assert_eq!(titles(&acme).await?, ["acme 1", "acme 2", "acme 3"]);
    assert_eq!(titles(&globex).await?, ["globex 1", "globex 2"]);
    // The same function on the plain connection (the service's old caller)
    // sees every tenant's rows.
    let (all, _) = Query::find_posts_in_page(&db, 0, 100).await?;
    println!("the plain DatabaseConnection sees {} posts", all.len());
    assert_eq!(all.len(), 5);

    // acme's service calls with globex's ids: nothing to see, change or delete.
    let target = theirs[0];
    let found = Query::find_post_by_id(&acme, target).await?;
    println!("acme: find_post_by_id({target}) (globex's) -> {found:?}");
    assert!(found.is_none());
    let updated = Mutation::update_post_by_id(&acme, target, form("pwned")).await;
    println!(
        "acme: update_post_by_id({target}) -> {}",
        updated
            .as_ref()
            .map_or_else(|e| e.to_string(), |m| m.title.clone())
    );
    assert!(updated.is_err());
    let deleted = Mutation::delete_post(&acme, target).await;
    println!(
        "acme: delete_post({target}) -> {}",
        deleted
            .as_ref()
            .map_or_else(|e| e.to_string(), |r| format!("{} row(s)", r.rows_affected))
    );
    assert!(deleted.is_err());

    // acme's own rows work as before.
    let mine = Query::find_posts_in_page(&acme, 0, 1).await?.0;
    let first = mine.first().ok_or("acme has no post")?;
    let renamed = Mutation::update_post_by_id(&acme, first.id, form("acme 1, edited")).await?;
    println!(
        "acme: update_post_by_id({}) -> {:?}",
        first.id, renamed.title
    );
    assert_eq!(renamed.tenant_id, "acme");

    // What `delete_all_posts` sends through acme's connection.
    let sent = acme.confine(post::Entity::delete_many().build(DbBackend::Sqlite))?;
    println!("acme: delete_all_posts sends {}", sent.sql);
    let gone = Mutation::delete_all_posts(&acme).await?;
    println!("acme: delete_all_posts -> {} row(s)", gone.rows_affected);
    assert_eq!(gone.rows_affected, 3);
    println!("acme sees:   {:?}", titles(&acme).await?);
    println!("globex sees: {:?}", titles(&globex).await?);
    assert!(titles(&acme).await?.is_empty());
    assert_eq!(titles(&globex).await?, ["globex 1", "globex 2"]);
    println!("globex's rows were never seen or changed by acme's service calls");
    Ok(())
}
