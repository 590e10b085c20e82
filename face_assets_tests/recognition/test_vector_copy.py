"""copy_vectors: integer columns + one pgvector vector through binary COPY, parsed by numpy, on real PostgreSQL."""

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from face_assets.recognition.vector_copy import CopyLayoutError, copy_vectors


@pytest.fixture
def conn(fresh_db):
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, big bigint, small smallint, embedding vector)")
        yield conn


def insert(conn, rows):
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO items VALUES (%s, %s, %s, %s)", rows)


def test_blocks_equal_the_rows_read_one_by_one(conn):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((53, 16)).astype(np.float32)
    insert(conn, [(i, 10**12 + i, -i, vectors[i]) for i in range(53)])
    query = "SELECT id, big, small, embedding FROM items WHERE id >= %(first)s ORDER BY id"
    blocks = list(copy_vectors(conn, query, {"first": 3}, chunk_rows=7))
    assert [b[1].shape[0] for b in blocks] == [7] * 7 + [1]  # 50 rows: whole chunks, then the rest
    ids, big, small = (np.concatenate([b[0][i] for b in blocks]) for i in range(3))
    got = np.concatenate([b[1] for b in blocks])
    assert ids.tolist() == list(range(3, 53))
    assert big.tolist() == [10**12 + i for i in range(3, 53)] and small.tolist() == [-i for i in range(3, 53)]
    assert got.dtype == np.float32 and np.array_equal(got, vectors[3:])
    expected = conn.execute("SELECT embedding FROM items WHERE id >= 3 ORDER BY id").fetchall()
    assert np.array_equal(got, np.stack([e[0].to_numpy() for e in expected]))  # pgvector text format


def test_no_rows_yields_nothing(conn):
    assert list(copy_vectors(conn, "SELECT id, embedding FROM items")) == []


def test_a_null_or_another_dimension_is_an_error_not_a_misread(conn):
    insert(conn, [(1, 1, 1, np.ones(4, np.float32)), (2, 2, 2, np.ones(8, np.float32))])
    with pytest.raises(CopyLayoutError, match="layout"):
        list(copy_vectors(conn, "SELECT id, embedding FROM items ORDER BY id"))
    conn.execute("UPDATE items SET embedding = NULL WHERE id = 1")
    with pytest.raises(CopyLayoutError, match="NULL"):
        list(copy_vectors(conn, "SELECT id, embedding FROM items ORDER BY id"))
    with pytest.raises(CopyLayoutError, match="not an integer"):
        list(copy_vectors(conn, "SELECT 'x'::text, embedding FROM items WHERE id = 2"))


def test_read_ahead_keeps_order_raises_errors_and_stops_when_closed(conn):
    from face_assets.recognition.vector_copy import read_ahead

    assert list(read_ahead(iter(range(10)), depth=2)) == list(range(10))

    def failing():
        yield 1
        raise RuntimeError("broken stream")

    with pytest.raises(RuntimeError, match="broken stream"):
        list(read_ahead(failing()))

    insert(conn, [(i, i, i, np.full(4, i, np.float32)) for i in range(40)])
    with conn.transaction():
        blocks = read_ahead(copy_vectors(conn, "SELECT id, embedding FROM items ORDER BY id", chunk_rows=5), depth=1)
        first = next(blocks)
        blocks.close()  # the thread stops and the COPY ends: the connection takes statements again
        assert first[0][0].tolist() == [0, 1, 2, 3, 4]
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 40
