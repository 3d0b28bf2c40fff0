-- Holes the confinement had (or has), each a way for acme to read, change or
-- sense globex's rows. Format: tests/fuzz_confinement/corpus.rs.

-- INSERT ... SELECT * whose star hides the tenant column: a row for globex.
INSERT INTO post (id, tenant_id, title) SELECT *, 'acme' FROM (SELECT 99 AS a, 'globex' AS b) s
-- A comma item before a RIGHT JOIN: the table under the comma escapes.
SELECT count(*) FROM post, country RIGHT JOIN country AS k ON 0
-- A CTE named like a tenant table is not the table (neither confined nor refused as one).
WITH post AS (SELECT 1 AS x) SELECT * FROM post
-- A derived column list renames the tenant column.
SELECT * FROM post AS p(id, real_tenant, tenant_id)
-- A function that fails on globex's data, evaluated before the tenant predicate.
SELECT * FROM post WHERE json_extract('{}', title) IS NULL
-- A correlated scalar subquery on a second alias of the table.
SELECT * FROM post WHERE (SELECT title FROM post p2 WHERE p2.id > post.id) = 'x'
-- Connection state: the rowid of the last insert, whoever made it.
SELECT last_insert_rowid()
-- The crate's own table.
SELECT * FROM sea_orm_tenant_registry
