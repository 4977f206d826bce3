"""Store.cursor keeps working in a process that has imported the submodule laadplan.store.copy (as `laadplan db
copy` does): that import used to rebind the package's name `copy`, and every server request's cursor() then
failed with "module 'laadplan.store.copy' has no attribute 'copy'" (seen in the full suite, where a db-copy
test ran before an API test in the same worker)."""

from __future__ import annotations

import importlib


def test_cursor_after_the_copy_submodule_is_imported():
    importlib.import_module("laadplan.store.copy")
    from laadplan.store import Store

    s = Store(":memory:")
    try:
        s.con.execute("CREATE TABLE t AS SELECT 41 + 1 AS x")
        c = s.cursor()
        try:
            assert c.query("SELECT x FROM t")["x"].tolist() == [42]
            assert c.con is not s.con  # its own connection
        finally:
            c.close()
    finally:
        s.close()
