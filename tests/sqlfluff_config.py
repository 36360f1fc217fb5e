"""Prints a SQLFluff config with the default settings as dbt's vars (`make lint`).

The dbt project declares no vars (the settings do, in dagster_project/settings.py), and
SQLFluff compiles every model, so it is handed them as its dbt templater's context."""

import tomlkit

from dagster_project.settings import DbtVars


def _no_nulls(value: object) -> object:
    """TOML has no null: a null in a mapping is left out (the SQL reads it with .get)."""
    if isinstance(value, dict):
        return {k: _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_nulls(v) for v in value]
    return value


if __name__ == "__main__":
    context = _no_nulls(DbtVars().model_dump(mode="json"))
    print(tomlkit.dumps({"tool": {"sqlfluff": {"templater": {"dbt": {"context": context}}}}}))
