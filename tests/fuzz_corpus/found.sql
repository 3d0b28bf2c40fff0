-- Every failure the generator found, shrunk (appended by
-- tests/fuzz_confinement.rs with its class, then given a diagnosis by
-- hand). Keep them: each runs in the corpus test; drop the `-- known:` line
-- once it passes.

-- Hex integer literals (sent as blobs; refused since main da38904).
SELECT 0x10
DELETE FROM comment WHERE id BETWEEN 1 AND 0x10
SELECT post_id FROM post_tag JOIN (item NATURAL LEFT JOIN post) ON post_id = v WHERE tag_id < 0x10
INSERT INTO item (n) VALUES (1), (0x10)
UPDATE item SET n = 0x10
INSERT INTO post (title) VALUES (0x10)
SELECT id FROM post WHERE id BETWEEN 1 AND 0x10
-- params: 2
VALUES (0x10, ?)
-- params: 2, 2
VALUES (1, ?), (0x10, ?)
INSERT INTO post (id, tenant_id, title) VALUES (31, 'acme', 0x10)
UPDATE post SET title = 0x10

-- VALUES as a derived table.
-- known: [ERROR-FOR-ROWS] a derived table of VALUES is sent as invalid SQL: near "LIMIT": syntax error
SELECT id FROM post, (VALUES (1, 'a')) AS v1
-- known: [ERROR-FOR-ROWS] a derived table of VALUES is sent as invalid SQL: near "LIMIT": syntax error
SELECT column1 FROM (VALUES (1, 'a')) AS v1
-- known: [ERROR-FOR-ROWS] a derived table of VALUES in a UNION branch: near "LIMIT": syntax error
SELECT id FROM post WHERE id = 1 UNION SELECT column1 FROM (VALUES (1, 'a')) AS v1
-- known: [OTHER-ERROR] a derived table of VALUES: near "LIMIT": syntax error, where the statement's own error is "malformed JSON"
SELECT column1 FROM (VALUES (1, 'a')) AS v1 WHERE 1 + column1 IN (SELECT id FROM post WHERE id = 1 AND json_extract('a', id))

-- A tenant table named twice without an alias.
-- known: [ERROR-FOR-ROWS] the added predicate post.tenant_id is ambiguous (64 rows on acme's rows alone)
SELECT count(*) FROM post, post, post
-- known: [ERROR-FOR-ROWS] the added predicate post.tenant_id is ambiguous (64 rows on acme's rows alone)
SELECT c1 FROM (SELECT id AS c1 FROM post) AS s2, post, post
-- known: [OTHER-ERROR] ambiguous column name: post.tenant_id, where the statement's own error is about id
SELECT count(*) FROM post JOIN post ON id = id WHERE id = coalesce(id, id)
-- known: [OTHER-ERROR] ambiguous column name: *.post.id (a rewritten name in the message), not main.post.id
SELECT id FROM post, (post RIGHT JOIN post ON id = id)
-- known: [OTHER-ERROR] ambiguous column name: post.tenant_id, where the statement's own error names main.post.tenant_id
SELECT post.* FROM post JOIN post USING (id) WHERE id = id
-- known: [OTHER-ERROR] ambiguous column name: post.tenant_id, where the statement's own error is about id
SELECT code FROM (country JOIN post ON code = id), post
-- known: [ERROR-FOR-ROWS] UPDATE post ... FROM post AS post: the added post.tenant_id is ambiguous (4 rows changed on acme's rows alone)
-- params: 'acme'
UPDATE post SET title = ? FROM post AS post
-- known: [OTHER-ERROR] the same alias twice: ambiguous column name: s.tenant_id, where the statement's own error is about id
SELECT count(*) FROM post AS s JOIN post AS s ON id = id
-- known: [OTHER-ERROR] ambiguous column name: id, where the statement's own error names main.post._ROWID_
UPDATE post SET title = id FROM post NATURAL LEFT JOIN post

-- A table fenced into a derived table loses its rowid.
-- known: [ROWS-FOR-ERROR] rowid of a fenced post no longer clashes: answers where acme's rows alone give "ambiguous column name: rowid"
SELECT id FROM post RIGHT OUTER JOIN country ON rowid = code
-- known: [ROWS-FOR-ERROR] rowid of a fenced post no longer clashes: answers where acme's rows alone give "ambiguous column name: rowid"
SELECT rowid FROM post NATURAL JOIN post WHERE EXISTS (SELECT 1 FROM post AS a1 JOIN post USING (id) WHERE id = id)
-- known: [ROWS-FOR-ERROR] rowid of a fenced post no longer clashes: answers where acme's rows alone give "ambiguous column name: rowid"
SELECT id FROM post WHERE NOT (id + id IN (SELECT id FROM post RIGHT JOIN country ON id = code WHERE id = rowid))
-- known: [ROWS-FOR-ERROR] rowid of a fenced post no longer clashes (a CTE in front changes nothing)
WITH w AS (SELECT id AS c1, id AS c2 FROM post WHERE id = id) SELECT rowid FROM post NATURAL JOIN post
-- known: [ROWS-FOR-ERROR] a comma item before a RIGHT JOIN is fenced: its rowid no longer clashes with country's
SELECT id FROM post, post_tag RIGHT JOIN country ON rowid = code
-- known: [ROWS-FOR-ERROR] rowid in a subquery over a fenced NATURAL JOIN: 0 rows where acme's rows alone give "ambiguous column name: rowid"
SELECT id FROM post WHERE (SELECT count(*) FROM post NATURAL JOIN post WHERE rowid = id) IN (1)
-- known: [ERROR-FOR-ROWS] post under a RIGHT JOIN is fenced and has no rowid: "no such column: rowid" (4 rows on acme's rows alone)
SELECT rowid FROM post RIGHT JOIN (SELECT id AS c2 FROM (SELECT post.* FROM post) AS s1) AS s3 ON id = c2
-- known: [ERROR-FOR-ROWS] post_tag under a RIGHT JOIN is fenced: "no such column: post_tag.rowid" (4 rows on acme's rows alone)
WITH w AS (SELECT id AS c1 FROM post WHERE id = 1) SELECT post_id FROM post_tag RIGHT JOIN post ON post_tag.rowid = id
-- known: [ERROR-FOR-ROWS] post under a RIGHT JOIN in parentheses is fenced: "no such column: post.rowid"
SELECT id FROM (post RIGHT JOIN country ON post.rowid = code)

-- Aliases and schema names in rewritten statements.
-- known: [OTHER-ERROR] a subquery in RETURNING of an aliased DELETE: no such column: d1.tenant_id
DELETE FROM post AS d1 RETURNING (SELECT count(*) FROM post)
-- known: [ERROR-FOR-ROWS] main.post under a NATURAL FULL JOIN: no such column: main.post.tenant_id
SELECT coalesce(id, id) FROM main.post NATURAL FULL JOIN post WHERE id = id
-- known: [OTHER-ERROR] main.post under a RIGHT JOIN: no such column: main.post.tenant_id
SELECT post.id FROM main.post RIGHT JOIN post AS a1 ON id LIKE '%e%'
-- known: [ERROR-FOR-ROWS] a subquery in RETURNING of an aliased DELETE: no such column: d1.tenant_id (0 rows on acme's rows alone)
DELETE FROM post AS d1 WHERE id <> id RETURNING (SELECT count(*) FROM post)

-- Postfix operators.
-- known: [ERROR-FOR-ROWS] `id ISNULL` under a NATURAL FULL JOIN is sent as invalid SQL: near "ISNULL": syntax error
SELECT id ISNULL FROM post NATURAL FULL JOIN post WHERE id = id

-- Guards and fences that change which of the statement's own errors happen.
-- known: [ROWS-FOR-ERROR] a guarded constant expression no longer fails: 0 rows where acme's rows alone give "malformed JSON"
SELECT c2 FROM (SELECT 'a' -> '$.a' AS c2, id AS c3, id AS c4 FROM post WHERE id = 1) AS s5 WHERE c2 = c2
-- known: [ROWS-FOR-ERROR] a guarded json_each('a') no longer fails: 0 rows where acme's rows alone give "malformed JSON"
SELECT key FROM json_each('a') AS j1 JOIN post ON json_extract(tenant_id, '$.a') LIKE '%e%' WHERE tenant_id = 'a'
-- known: [ERROR-FOR-ROWS] a fenced derived table is no longer flattened, so json_each('a') runs and fails ("malformed JSON"), where acme's rows alone answer 0 rows
SELECT c2 FROM (SELECT tenant_id AS c2 FROM json_each('a') AS j1, post WHERE key = 1 AND key = 1) AS s3 WHERE c2 IN (SELECT id FROM post)
