"""The same dbt project on Apache Spark (dbt-spark, a local SparkSession) builds every model,
passes every dbt test and unit test, and gives the marts DuckDB gives, row for row."""

import math
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal

import pytest

from dagster_project.resources import open_warehouse
from dagster_project.sample_shop.generator import ShopConfig
from dagster_project.settings import load_settings
from tests.dbt.helpers import load_shop, run_dbt

RELATIVE = 1e-9  # numbers may differ this much: the engines add up doubles in other orders


LOAD_RAW = """
import sys
from pyspark.sql import SparkSession

data, tables = sys.argv[1], sys.argv[2:]
spark = (
    SparkSession.builder.master("local[2]")
    .config("spark.sql.warehouse.dir", f"{data}/spark/warehouse")
    .config("spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={data}/spark/metastore_db;create=true")
    .config("spark.sql.session.timeZone", "UTC")
    .config("spark.driver.extraJavaOptions", f"-Dderby.stream.error.file={data}/spark/derby.log")
    .enableHiveSupport()
    .getOrCreate()
)
spark.sql("create database if not exists raw")
for table in tables:
    frame = spark.read.parquet(f"{data}/raw_parquet/{table}.parquet")
    frame.write.format("parquet").saveAsTable(f"raw.{table}")
"""  # in a process of its own: the metastore (Derby) admits one process, and dbt's comes next


def same(a, b) -> bool:
    if isinstance(a, float | Decimal) and isinstance(b, float | Decimal):
        a, b = float(a), float(b)
        return math.isclose(a, b, rel_tol=RELATIVE, abs_tol=1e-12) or (
            math.isnan(a) and math.isnan(b)
        )
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None)
    if isinstance(a, date) and isinstance(b, date):
        return a == b
    return a == b


def comparable(row) -> tuple:
    """A row's sort key: numbers rounded so that 1e-9 differences sort alike."""
    return tuple(
        (0, "") if v is None
        else (1, round(float(v), 6)) if isinstance(v, float | Decimal | int) and not isinstance(v, bool)
        else (2, str(v))
        for v in row
    )  # fmt: skip


@pytest.mark.slow
def test_every_mart_built_on_spark_equals_the_duckdb_build(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("CRM_DATA_DIR", str(data))
    settings = load_settings(data)
    load_shop(settings, ShopConfig(customers=300, days=120, bad_row_share=0.01))
    run_dbt(settings, "build", "--exclude", "test_type:unit")
    # the raw tables, as Parquet tables of the Spark warehouse
    parquet = data / "raw_parquet"
    parquet.mkdir()
    with open_warehouse(settings, read_only=True) as conn:
        raw = [
            t for (t,) in conn.execute(
                "select table_name from duckdb_tables() "
                "where database_name = 'warehouse' and schema_name = 'raw'"
            ).fetchall()
        ]  # fmt: skip
        for table in raw:
            conn.execute(f"copy raw.{table} to '{parquet}/{table}.parquet' (format parquet)")
        marts = {
            (schema, table): conn.execute(
                f"select * from {schema}.{table}"
            ).fetchall()
            for schema, table in conn.execute(
                "select schema_name, table_name from duckdb_tables() "
                "where schema_name in ('staging', 'intermediate', 'marts')"
            ).fetchall()
        }  # fmt: skip
    subprocess.run([sys.executable, "-c", LOAD_RAW, str(data), *raw], check=True)
    # every model, seed and dbt test; then the unit tests (those of incremental models read
    # the built tables' columns)
    run_dbt(settings, "build", "--target", "spark", "--exclude", "test_type:unit")
    run_dbt(settings, "test", "--target", "spark", "--select", "test_type:unit")
    # Spark's tables are Parquet files under its warehouse folder: DuckDB reads them back
    warehouse = data / "spark" / "warehouse"
    assert len(marts) > 30
    differences: list[str] = []
    with open_warehouse(settings, read_only=True) as conn:
        for (schema, table), duckdb_rows in sorted(marts.items()):
            query = conn.execute(
                f"select * from read_parquet('{warehouse}/{schema}.db/{table}/*.parquet')"
            )
            columns = [d[0] for d in query.description]
            spark_rows = query.fetchall()
            names = [
                d[0] for d in conn.execute(f"select * from {schema}.{table} limit 0").description
            ]
            assert sorted(names) == sorted(columns), (schema, table)
            keep = [names.index(c) for c in columns if c != "_built_at"]
            spark_rows = [tuple(r[columns.index(names[i])] for i in keep) for r in spark_rows]
            duckdb_rows = [tuple(r[i] for i in keep) for r in duckdb_rows]
            if len(spark_rows) != len(duckdb_rows):
                differences.append(
                    f"{schema}.{table}: {len(spark_rows)} rows, DuckDB {len(duckdb_rows)}"
                )
                continue
            pairs = zip(
                sorted(spark_rows, key=comparable), sorted(duckdb_rows, key=comparable), strict=True
            )
            for s_row, d_row in pairs:
                wrong = [
                    f"{names[i]}: Spark {s!r}, DuckDB {d!r}"
                    for i, s, d in zip(keep, s_row, d_row, strict=True) if not same(s, d)
                ]  # fmt: skip
                if wrong:
                    differences.append(f"{schema}.{table}: " + "; ".join(wrong))
                    break
    assert differences == []
