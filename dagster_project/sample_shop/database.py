"""The sample shop as a shop's own database would hold it, in a throw-away PostgreSQL server.

The tests of the database source and `make bench` both start a server in a temporary folder
(PostgreSQL's own programs, initdb and pg_ctl, run as the user `postgres` when this process is
root), fill it with the newest version of every customer and order and every order line of a
warehouse loaded from the sample shop's files, under the shop's own table and column names
and with a table of status codes, and pull it back through the `sources` setting in TABLES.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dagster_project.ingest.contract import ENTITIES

# the shop's words for an order's status, by code, and the contract's status for each
STATUS_CODES = {
    "created": (10, "NEW"),
    "paid": (20, "PAID"),
    "shipped": (30, "SENT"),
    "completed": (40, "DONE"),
    "cancelled": (50, "VOID"),
    "refunded": (60, "REFUND"),
    "partially_refunded": (61, "PART_REFUND"),
}
# the `tables` of a database source (docs/sources.md) that reads the shop's database back
TABLES: dict[str, dict[str, Any]] = {
    "customers": {
        "table": "members",
        "cursor": "changed",
        "columns": {
            "customer_id": "member_no", "email": "mail", "phone": "mobile", "gender": "sex",
            "birth_date": "birthday", "country": "country", "province": "province",
            "city": "city", "city_tier": "city_tier", "registered_at": "signup",
            "acquisition_channel": "source", "email_opt_in": "email_ok", "sms_opt_in": "sms_ok",
            "push_opt_in": "push_ok", "updated_at": "changed",
        },
    },
    "orders": {
        "table": "shop_orders",
        "cursor": "modified",
        "columns": {
            "order_id": "id", "customer_id": "buyer", "email": "buyer_mail",
            "phone": "buyer_mobile",
            "status": "(select s.label from order_status as s "
                      "where s.code = shop_orders.status_code)",
            "created_at": "created", "paid_at": "paid", "currency": "currency",
            "order_total": "total", "discount_total": "discount", "shipping_total": "shipping",
            "refund_total": "refunded", "channel": "channel", "promotion_type": "promotion",
            "updated_at": "modified",
        },
        "values": {"status": {label: status for status, (_, label) in STATUS_CODES.items()}},
    },
    "order_items": {
        "table": "order_lines",
        "cursor": "inserted",
        "columns": {
            "order_id": "order_id", "line_number": "line_no", "sku": "sku",
            "category": "category", "product_name": "title", "quantity": "qty",
            "unit_price": "price", "line_total": "amount",
        },
    },
}  # fmt: skip


def newest_rows(entity: str) -> str:
    """SQL on a warehouse: the newest version of each of the entity's raw rows, which is all a
    shop's database holds of it (an entity whose contract key has updated_at has versions)."""
    key = ENTITIES[entity].key
    if "updated_at" not in key:
        return f"select * from raw.{entity}"
    return (
        f"select * from raw.{entity} qualify row_number() over (partition by "
        f"{', '.join(c for c in key if c != 'updated_at')} "
        "order by updated_at desc, _loaded_at desc) = 1"
    )


def fill_database(url: str, warehouse: Path) -> dict[str, int]:
    """Create the shop's tables in the database at `url` (with its password) from the raw
    tables of `warehouse`, copied in as CSV; the rows written, per entity."""
    import duckdb
    import psycopg

    rows = {}
    with (
        duckdb.connect(str(warehouse), read_only=True) as conn,
        psycopg.connect(url) as db,
        tempfile.TemporaryDirectory() as tmp,
    ):
        db.execute("set time zone 'UTC'")
        db.execute("create table order_status (code int primary key, label text)")
        for code, label in STATUS_CODES.values():
            db.execute("insert into order_status values (%s, %s)", (code, label))
        for entity, mapping in TABLES.items():
            renames = {c: s for c, s in mapping["columns"].items() if s.isidentifier()}
            if entity == "orders":  # the database keeps the status's code
                renames["status"] = "status_code"
            select = [
                f"{_status_code()} as status_code" if c == "status" else f"{c} as {renames[c]}"
                for c in renames
            ]
            source = f"({newest_rows(entity)})"
            if entity == "order_items":  # a line is inserted with its order (if it has one)
                select.append("coalesce(o.inserted, timestamp '2000-01-01') as inserted")
                source += (
                    f" left join (select order_id, created_at as inserted from "
                    f"({newest_rows('orders')})) as o using (order_id)"
                )
            query = f"select {', '.join(select)} from {source}"
            types = conn.execute(f"describe {query}").fetchall()
            columns = ", ".join(f"{name} {_postgres_type(kind)}" for name, kind, *_ in types)
            db.execute(f"create table {mapping['table']} ({columns})")
            csv = Path(tmp) / f"{entity}.csv"
            conn.execute(f"copy ({query}) to '{csv}' (header false)")
            cursor = db.cursor()
            into = f"copy {mapping['table']} from stdin (format csv)"
            with cursor.copy(into) as copy, csv.open("rb") as f:
                while block := f.read(1 << 20):
                    copy.write(block)
            rows[entity] = cursor.rowcount  # the rows COPY wrote
    return rows


def _status_code() -> str:
    cases = " ".join(f"when '{s}' then {code}" for s, (code, _) in STATUS_CODES.items())
    return f"case status {cases} end"


def _postgres_type(duckdb_type: str) -> str:
    """PostgreSQL's name of a DuckDB column type (the two agree but for these)."""
    return {"TIMESTAMP": "timestamptz", "DOUBLE": "double precision"}.get(duckdb_type, duckdb_type)


def server_programs() -> Path | None:
    """The folder of PostgreSQL's server programs (initdb, pg_ctl): on the PATH, or the newest
    of Debian's /usr/lib/postgresql/<version>/bin; None when there is none."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


@dataclass
class Server:
    folder: Path
    port: int
    bin: Path

    @property
    def url(self) -> str:
        return f"postgresql://crm@127.0.0.1:{self.port}/shop"

    def login(self, password: str, database: str = "shop") -> str:
        """The URL with the password in it, quoted, for a program that connects."""
        return f"postgresql://crm:{quote(password, safe='')}@127.0.0.1:{self.port}/{database}"

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        """A server program as the user that owns the cluster."""
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(
            [*prefix, str(self.bin / command[0]), *command[1:]],
            capture_output=True, text=True, check=True, cwd="/",
        )  # fmt: skip

    def start(self) -> None:
        self.run(
            "pg_ctl", "-D", str(self.folder / "data"), "-l", str(self.folder / "server.log"),
            "-w", "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1",
            "start",
        )  # fmt: skip

    def kill(self) -> None:
        """Stop at once, as a crash would: connections break mid-query."""
        self.run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "stop")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def postgres_server(password: str) -> Iterator[Server]:
    """A running server with a database `shop` owned by user `crm` (password `password`), in a
    folder of the system's temporary folder (which the user postgres can reach), removed after."""
    import psycopg

    programs = server_programs()
    if programs is None:
        raise FileNotFoundError("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    folder = Path(tempfile.mkdtemp(prefix="crm-mart-postgres-"))
    pwfile = folder / "pw"
    pwfile.write_text(password)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(pwfile, "postgres")
    server = Server(folder, _free_port(), programs)
    try:
        server.run(
            "initdb", "-D", str(folder / "data"), "-U", "crm", "-A", "scram-sha-256",
            f"--pwfile={pwfile}", "--no-sync",
        )  # fmt: skip
        server.start()
        with psycopg.connect(server.login(password, "postgres"), autocommit=True) as db:
            db.execute("create database shop")
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # stopped, or never started
            server.kill()
        shutil.rmtree(folder, ignore_errors=True)
