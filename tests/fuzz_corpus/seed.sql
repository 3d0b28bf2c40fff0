-- The seed corpus: statements of every kind the confinement must confine,
-- refuse or answer exactly. Format: tests/fuzz_confinement/corpus.rs.

-- Reads of every table under every spelling.
SELECT * FROM post
SELECT * FROM "POST"
SELECT * FROM [post]
SELECT * FROM `post`
SELECT * FROM main.post
SELECT * FROM "main"."post"
SELECT * FROM MAIN.[Post]
SELECT p.* FROM post p
SELECT "P"."TITLE" FROM post AS "P"
SELECT main.post.title FROM main.post
SELECT * FROM temp.post
SELECT * FROM comment
SELECT * FROM tag
SELECT * FROM post_tag
SELECT rowid, * FROM post_tag
SELECT _rowid_, oid, id FROM post
SELECT * FROM item
SELECT * FROM country
SELECT * FROM legacy_post
SELECT * FROM sqlite_master
SELECT name, seq FROM sqlite_sequence
SELECT * FROM pragma_table_info('post')

-- Aliases that are the names of other tables.
SELECT * FROM post AS comment, comment AS post
SELECT * FROM comment AS post WHERE post.tenant_id = 'globex'
SELECT tenant_id FROM post tenant_id

-- Joins.
SELECT count(*) FROM post, comment
SELECT * FROM post JOIN comment ON post.id = comment.post_id
SELECT * FROM post LEFT JOIN comment ON comment.post_id = post.id
SELECT * FROM comment RIGHT JOIN post ON comment.post_id = post.id
SELECT * FROM post FULL JOIN comment ON post.id = comment.post_id
SELECT count(*) FROM post CROSS JOIN tag
SELECT * FROM post NATURAL JOIN comment
SELECT * FROM post JOIN comment USING (tenant_id)
SELECT * FROM post JOIN comment USING (id)
SELECT * FROM (post JOIN comment ON post.id = comment.post_id)
SELECT * FROM country LEFT JOIN post ON post.title = country.code
SELECT count(*) FROM country, post RIGHT JOIN tag ON tag.id = post.id
SELECT count(*) FROM country FULL JOIN post ON 1
SELECT count(*) FROM post, comment ON post.id = comment.post_id
SELECT * FROM post p JOIN post_tag pt ON pt.post_id = p.id JOIN tag t ON t.id = pt.tag_id

-- Subqueries in every clause.
SELECT (SELECT count(*) FROM post) AS n
SELECT * FROM (SELECT * FROM post) AS s
SELECT * FROM (SELECT tenant_id, title FROM post) WHERE tenant_id = 'globex'
SELECT * FROM post WHERE id IN (SELECT post_id FROM comment)
SELECT * FROM post WHERE EXISTS (SELECT 1 FROM comment WHERE comment.post_id = post.id)
SELECT * FROM post WHERE NOT EXISTS (SELECT 1 FROM comment WHERE comment.post_id = post.id)
SELECT 1 WHERE 'globex secret' IN (SELECT title FROM post)
SELECT tenant_id, count(*) FROM post GROUP BY tenant_id HAVING count(*) > (SELECT count(*) FROM tag)
SELECT title FROM post ORDER BY (SELECT count(*) FROM comment WHERE comment.post_id = post.id), id
SELECT id, (SELECT max(body) FROM comment c WHERE c.post_id = p.id) AS b FROM post p
SELECT * FROM post WHERE id IN post_tag

-- Set operations and CTEs.
SELECT title FROM post UNION SELECT name FROM tag
SELECT title FROM post UNION ALL SELECT title FROM post
SELECT title FROM post EXCEPT SELECT title FROM post WHERE tenant_id = 'acme'
SELECT title FROM post INTERSECT SELECT body FROM comment
WITH w AS (SELECT * FROM post) SELECT count(*) FROM w
WITH w AS MATERIALIZED (SELECT * FROM post) SELECT * FROM w, w AS w2 WHERE w.id = w2.id
WITH comment AS (SELECT * FROM post) SELECT * FROM comment
WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r, post WHERE post.id = r.n
WITH RECURSIVE w(id) AS (SELECT min(id) FROM post UNION SELECT p.id FROM post p JOIN w ON p.id > w.id) SELECT * FROM w
WITH w AS (SELECT title FROM post) SELECT 'globex secret' IN w
VALUES (1, 'a'), (2, 'b')

-- Aggregates, windows, ordering.
SELECT count(*), min(id), max(id), sum(id), avg(id), total(id) FROM post
SELECT count(DISTINCT title) FROM post
SELECT count(*) FILTER (WHERE title = 'same') FROM post
SELECT count(*) OVER (), title FROM post
SELECT rank() OVER (ORDER BY title), title FROM post
SELECT DISTINCT title FROM post
-- ordered
SELECT id, title FROM post ORDER BY 1, 2 LIMIT 2 OFFSET 1
-- ordered
SELECT id, title FROM post ORDER BY 1, 2 LIMIT 1, 2

-- Functions that fail on data, literals, placeholders.
SELECT abs(n) FROM item
SELECT sum(n) FROM item
SELECT * FROM item WHERE json_extract(data, '$.a') = 1
SELECT * FROM item WHERE data -> '$.a' IS NOT NULL
SELECT j.value FROM item, json_each(item.data) AS j
SELECT * FROM post, json_each('[1,2]')
SELECT * FROM post WHERE title = "globex secret"
SELECT * FROM post WHERE tenant_id = "tenant_id"
SELECT * FROM post WHERE tenant_id = 'acme' OR 1 = 1
SELECT x'41', 1e3, -0, NULL, TRUE, FALSE, 'a', .5, 9223372036854775808, 1E-2, X''
SELECT CAST(title AS INTEGER) FROM post
SELECT * FROM post WHERE title LIKE '%e%' OR title GLOB '*5*'
SELECT * FROM post WHERE id BETWEEN 1 AND 5
SELECT CASE WHEN id > 3 THEN title ELSE 'small' END FROM post
SELECT changes()
SELECT total_changes()
SELECT sqlite_version()
-- params: 1
SELECT * FROM post WHERE id = ?
-- params: 'globex'
SELECT * FROM post WHERE tenant_id = ?1 OR ?1 = 'globex'
-- params: 'globex', 2
SELECT * FROM post WHERE tenant_id = ? OR id = ?
-- params: 1, 'x'
SELECT ?2, ?1
SELECT ((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))

-- Writes.
INSERT INTO post (title) VALUES ('new')
INSERT INTO post (title) VALUES ('new') RETURNING *
INSERT INTO post (tenant_id, title) VALUES ('globex', 'planted')
-- params: 'globex'
INSERT INTO post (tenant_id, title) VALUES (?, 'planted')
INSERT INTO post (tenant_id, title) VALUES ('acme', 'mine')
INSERT INTO post (id, title) VALUES (99, 'x') RETURNING id, tenant_id
INSERT INTO post (id, title) SELECT id + 100, title FROM post
INSERT INTO post (id, tenant_id, title) SELECT id + 100, tenant_id, title FROM post
INSERT INTO post (id, title) VALUES (2, 'x') ON CONFLICT (id) DO UPDATE SET title = excluded.title
INSERT INTO post (id, title) VALUES (2, 'x') ON CONFLICT DO NOTHING
INSERT INTO tag (id, name) VALUES (30, 'x') ON CONFLICT (id, tenant_id) DO UPDATE SET name = 'y' WHERE name <> 'z'
INSERT INTO country (code, name) VALUES ('FR', 'France')
INSERT INTO country (code, name) SELECT 'X' || id, title FROM post
INSERT INTO comment (post_id, body) VALUES (1, 'on globex post')
INSERT INTO comment (post_id, body) VALUES (2, 'on my post')
INSERT INTO post_tag (post_id, tag_id) VALUES (30, 30)
INSERT INTO item (n, x, data, v) VALUES (1, 2.5, '{}', x'00')
INSERT INTO post DEFAULT VALUES
UPDATE post SET title = 'x'
UPDATE post SET title = 'x' WHERE id = 1
UPDATE post SET tenant_id = 'globex'
UPDATE post SET title = (SELECT count(*) FROM comment) RETURNING *
UPDATE post AS p SET title = c.body FROM comment AS c WHERE c.post_id = p.id AND c.id = 2
UPDATE item SET n = n + 1 WHERE abs(n) > 0
UPDATE post SET (title) = ('x') WHERE title = 'same'
DELETE FROM post_tag
DELETE FROM comment WHERE body = 'same' RETURNING id
DELETE FROM item WHERE json_extract(data, '$.a') IS NULL
DELETE FROM post WHERE id = 1
DELETE FROM item AS i WHERE i.n IS NULL
WITH d AS (SELECT id FROM item) DELETE FROM item WHERE id IN d
REPLACE INTO post (id, title) VALUES (1, 'x')
INSERT OR REPLACE INTO tag (id, name) VALUES (1, 'x')
UPDATE OR REPLACE post SET id = 1 WHERE id = 2

-- Anything but SELECT, INSERT, UPDATE, DELETE is refused (rule 12).
EXPLAIN SELECT * FROM post
EXPLAIN QUERY PLAN SELECT * FROM post
PRAGMA table_info(post)
PRAGMA foreign_keys = OFF
ATTACH ':memory:' AS other
CREATE TEMP VIEW v AS SELECT * FROM post
CREATE TEMP TABLE t AS SELECT * FROM post
CREATE TEMP TRIGGER tr AFTER INSERT ON post BEGIN DELETE FROM comment; END
DROP TABLE post
ALTER TABLE post RENAME TO p2
VACUUM
ANALYZE
REINDEX
BEGIN
SAVEPOINT s
COMMIT
SELECT load_extension('x')
SELECT * FROM post; DELETE FROM post
SELECT 1 /* ; */; DELETE FROM post

-- Strings and names that look like SQL.
SELECT * FROM post WHERE title = '; DELETE FROM post --'
SELECT '/* x */', '-- y', 'it''s' FROM post
SELECT "tenant_id" FROM post WHERE "title" = "a1"
-- params: 'globex'
SELECT * FROM post WHERE tenant_id = :t
-- params: 'globex', 2
SELECT * FROM post WHERE tenant_id = @t OR id = $i

-- Rule 5: a write that meets globex's key (post, tag, comment and item 1
-- and 4 are globex's in A and A') leaves globex's row as it was.
-- collides
INSERT INTO post (id, title) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET title = 'pwned'
-- collides
INSERT INTO post (id, title) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET title = excluded.title RETURNING *
-- collides
INSERT INTO post (id, title) VALUES (1, 'x') ON CONFLICT DO NOTHING
-- collides
INSERT OR IGNORE INTO post (id, title) VALUES (1, 'x')
-- collides
INSERT INTO post (id, title) VALUES (1, 'x')
-- collides
INSERT INTO tag (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = excluded.name WHERE tag.name <> 'zzz'
-- collides
INSERT INTO tag (id, name) VALUES (4, 'x') ON CONFLICT (id, tenant_id) DO UPDATE SET name = 'y'
-- collides
UPDATE post SET id = 1 WHERE id = 2
-- collides
INSERT INTO post_tag (post_id, tag_id) VALUES (1, 1) ON CONFLICT DO NOTHING
-- collides
INSERT INTO item (id, n) VALUES (4, 1) ON CONFLICT (id) DO UPDATE SET n = excluded.n + item.n RETURNING n
-- collides
INSERT INTO item (id, n) VALUES (4, 1) ON CONFLICT (id) DO UPDATE SET n = abs(item.n)
-- collides
INSERT INTO item (id, data) VALUES (1, '{}') ON CONFLICT (id) DO UPDATE SET data = json_extract(item.data, '$.a')
-- collides
INSERT INTO comment (id, post_id, body) VALUES (4, 2, 'x') ON CONFLICT (id) DO UPDATE SET body = excluded.body WHERE comment.body = 'same'

-- More shapes of reads and writes.
UPDATE post SET title = p2.title FROM post AS p2 WHERE p2.id = post.id + 1
DELETE FROM comment WHERE post_id IN (SELECT id FROM post WHERE title = 'globex secret')
UPDATE post SET (title, tenant_id) = ('x', 'globex')
UPDATE post SET ("TITLE", "TENANT_ID") = ('x', 'acme')
SELECT * FROM post WHERE (tenant_id, id) IN (VALUES ('globex', 1))
SELECT * FROM post WHERE (id, title) = (2, 'a1')
SELECT * FROM post WHERE title LIKE 'a%' ESCAPE title
SELECT * FROM item WHERE data LIKE '%' ESCAPE data
SELECT * FROM post LIMIT (SELECT count(*) FROM comment)
SELECT * FROM (WITH w AS (SELECT * FROM post) SELECT * FROM w) AS s
SELECT count(*) FILTER (WHERE title <> 'x') OVER () FROM post
SELECT json_remove(data, '$.a') FROM item
SELECT * FROM post WHERE json_remove('{}', title) IS NULL
SELECT * FROM item WHERE json_array_length(data) > 0
SELECT * FROM item WHERE zeroblob(n) IS NOT NULL
SELECT * FROM post p WHERE EXISTS (SELECT 1 FROM country WHERE json_extract(p.title, '$.a') = 1)
SELECT * FROM post p LEFT JOIN comment c ON json_extract(c.body, '$.a') = 1
SELECT * FROM comment c RIGHT JOIN post p ON abs(p.id) = c.post_id
SELECT max(abs(n)) OVER (PARTITION BY tenant_id) FROM item
SELECT (SELECT sum(n) FROM item i2 WHERE i2.id >= i.id) FROM item i
