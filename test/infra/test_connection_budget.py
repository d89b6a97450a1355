"""Terraform: the connection budget (connections.tf) and the RDS Proxy, by plan only.

Every test plans the root module against the session's moto server (data sources only:
nothing is applied, so moto's lack of RDS Proxy does not matter) with empty stand-in zips,
and reads either the error or the plan's JSON. A plan whose database functions could hold
more connections than the database (or its proxy) takes must fail, naming the numbers.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from test.infra.helpers import REGION, ROOT, TERRAFORM_DIR

pytestmark = [pytest.mark.infra, pytest.mark.timeout(600)]

ENVIRONMENTS = TERRAFORM_DIR / "environments"
QA = [f"-var-file={ENVIRONMENTS / 'qa.tfvars'}", f"-var-file={ENVIRONMENTS / 'local.tfvars'}"]
# prod with the database created (plan only): the proxy, its secrets and its target appear.
PROD = [f"-var-file={ENVIRONMENTS / 'prod.tfvars'}", f"-var=aws_region={REGION}"]
FUNCTION_KINDS = ("producers", "consumers", "utilities")
LOGIN_ROLES = ("error_sink", "read_table", "reset_table")  # the functions with a db_user


@dataclass
class Planner:
    binary: str
    env: dict[str, str]
    work: Path
    endpoint: str
    count: int = 0

    def plan(self, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
        """terraform plan with these arguments; the plan as JSON when it succeeded."""
        self.count += 1
        out = self.work / f"budget-{self.count}.tfplan"
        common = [
            f"-state={self.work / 'budget-none.tfstate'}",  # never written: nothing is applied
            "-lock=false",
            "-input=false",
            "-no-color",
            f"-var=aws_endpoint_url={self.endpoint}",
            f"-var=artifacts_dir={self.work / 'stand-in-zips'}",
        ]
        proc = self._run("plan", *common, *args, f"-out={out}")
        if proc.returncode != 0:
            return proc, None
        shown = self._run("show", "-json", str(out))
        assert shown.returncode == 0, shown.stderr
        return proc, json.loads(shown.stdout)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, f"-chdir={TERRAFORM_DIR}", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


@pytest.fixture(scope="module")
def planner(terraform_bin: str, tf_env: dict[str, str], tf_work: Path, moto_endpoint: str) -> Iterator[Planner]:
    zips = tf_work / "stand-in-zips"
    zips.mkdir(exist_ok=True)
    for kind in FUNCTION_KINDS:  # the plan only hashes them
        for handler in (ROOT / kind).glob("*/handler.py"):
            (zips / f"{handler.parent.name}.zip").write_bytes(b"stand-in")
    init = subprocess.run(
        [terraform_bin, f"-chdir={TERRAFORM_DIR}", "init", "-input=false", "-no-color", "-lockfile=readonly"],
        env=tf_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    yield Planner(terraform_bin, tf_env, tf_work, moto_endpoint)


def resources(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every planned resource, in the root module and its children."""
    stack = [plan["planned_values"]["root_module"]]
    while stack:
        module = stack.pop()
        yield from module.get("resources", [])
        stack += module.get("child_modules", [])


def one(plan: dict[str, Any], address: str) -> dict[str, Any]:
    found = [r for r in resources(plan) if r["address"] == address]
    assert len(found) == 1, f"{address} is not planned once: {[r['address'] for r in resources(plan)]}"
    return dict(found[0]["values"])


def failure(proc: subprocess.CompletedProcess[str]) -> str:
    """The plan's error text with Terraform's line wrapping undone."""
    assert proc.returncode != 0, "the plan passed"
    return " ".join(proc.stderr.split())


def test_plan_within_the_budget_passes_and_records_the_figures(planner: Planner) -> None:
    proc, plan = planner.plan(*QA)
    assert plan is not None, proc.stderr
    # qa: db.t4g.micro (1 GiB) -> floor(0.875 GiB / 9531392) = 98, less the reserve of 10, no proxy.
    assert one(plan, "terraform_data.connection_budget")["input"] == {
        "max_connections": 98,
        "budget": 88,
        "connections": 9,
        "worst_case": {
            "error_sink": 2,
            "migrate": 1,
            "read_table": 2,
            "reset_table": 2,
            "reprocess_dead_letters": 1,
            "maintain": 1,
        },
    }
    # One PROVISIONED shard: the consumers' reservations are shards x parallelization factor.
    assert one(plan, 'module.function["error_sink"].aws_lambda_function.this')["reserved_concurrent_executions"] == 2
    assert one(plan, 'module.function["error_alert"].aws_lambda_function.this')["reserved_concurrent_executions"] == 1
    assert not [r for r in resources(plan) if r["type"].startswith("aws_db_proxy")]


def test_consumers_reservation_follows_the_shard_count(planner: Planner) -> None:
    _, plan = planner.plan(*QA, "-var=stream_shard_count=12")
    assert plan is not None
    # A fixed 20 with parallelization 2 would throttle past 10 shards; 12 shards x 2 = 24.
    assert one(plan, 'module.function["error_sink"].aws_lambda_function.this')["reserved_concurrent_executions"] == 24
    assert one(plan, 'module.function["error_alert"].aws_lambda_function.this')["reserved_concurrent_executions"] == 12
    assert (
        one(plan, "terraform_data.connection_budget")["input"]["connections"] == 24 + 7
    )  # error_sink, and the utilities' 7


def test_plan_over_the_budget_fails_naming_the_numbers(planner: Planner) -> None:
    proc, plan = planner.plan(*QA, "-var=stream_shard_count=50")
    assert plan is None
    text = failure(proc)
    assert "Connection budget exceeded" in text, text[-3000:]
    assert "can hold 107 connections at once" in text
    assert "error_sink 100 (errors 50 shards x parallelization 2)" in text
    assert "over the budget of 88 (max_connections 98 less a reserve of 10, db.t4g.micro)" in text


def test_prod_plan_over_the_proxy_pool_fails_naming_it(planner: Planner) -> None:
    proc, plan = planner.plan(*PROD, "-var=stream_on_demand_shards=200")
    assert plan is None
    text = failure(proc)
    # db.t4g.medium: floor(3.5 GiB / 9531392) = 394; the proxy's pool is 90% of it.
    assert "can hold 405 connections at once" in text, text[-3000:]
    assert "error_sink 400 (errors 200 shards x parallelization 2)" in text
    assert "over the budget of 354 (the RDS Proxy's pool, 90% of max_connections 394, db.t4g.medium)" in text


def test_a_lower_reserved_concurrency_caps_the_worst_case(planner: Planner) -> None:
    reserved = (
        "{migrate = 1, read_table = 2, reset_table = 2, reprocess_dead_letters = 1, maintain = 1, error_sink = 40}"
    )
    proc, plan = planner.plan(*QA, "-var=stream_shard_count=50", f"-var=reserved_concurrency={reserved}")
    assert plan is not None, proc.stderr
    assert one(plan, "terraform_data.connection_budget")["input"]["worst_case"]["error_sink"] == 40
    assert one(plan, 'module.function["error_sink"].aws_lambda_function.this')["reserved_concurrent_executions"] == 40
    # Allowed, but the mapping is throttled below its 100 batches at once: a warning says so.
    assert "error_sink 40 < 100" in " ".join(proc.stdout.split() + proc.stderr.split())


def test_a_database_function_without_a_reservation_fails(planner: Planner) -> None:
    reserved = "{migrate = 1, read_table = 2, reset_table = 2, maintain = 1}"
    proc, plan = planner.plan(*QA, f"-var=reserved_concurrency={reserved}")
    assert plan is None
    text = failure(proc)
    assert "reprocess_dead_letters reach the database without a reserved concurrency" in text, text[-3000:]


def test_an_explicit_max_connections_replaces_the_formula(planner: Planner) -> None:
    proc, plan = planner.plan(*QA, "-var=db_max_connections=20", "-var=stream_shard_count=5")
    assert plan is None  # 10 + 6 = 16 over 20 - 10
    assert "over the budget of 10 (max_connections 20 less a reserve of 10" in failure(proc)


def test_prod_plan_puts_the_proxy_between_functions_and_database(planner: Planner) -> None:
    proc, plan = planner.plan(*PROD)
    assert plan is not None, proc.stderr
    proxy = one(plan, "module.database.aws_db_proxy.this[0]")
    assert proxy["engine_family"] == "POSTGRESQL"
    assert proxy["require_tls"] is True
    auth = {a["description"].split(":")[0]: a for a in proxy["auth"]}
    assert set(auth) == {"master user (migrate, reprocess_dead_letters)", *(f"login role {u}" for u in LOGIN_ROLES)}
    for user in LOGIN_ROLES:  # an IAM auth token to the proxy, the role's own secret to PostgreSQL
        assert auth[f"login role {user}"]["iam_auth"] == "REQUIRED"
        assert auth[f"login role {user}"]["auth_scheme"] == "SECRETS"
    assert auth["master user (migrate, reprocess_dead_letters)"]["iam_auth"] == "DISABLED"
    pool = one(plan, "module.database.aws_db_proxy_default_target_group.this[0]")["connection_pool_config"][0]
    assert pool["max_connections_percent"] == 90
    one(plan, "module.database.aws_db_proxy_target.this[0]")
    for user in LOGIN_ROLES:
        secret = one(plan, f'module.database.aws_secretsmanager_secret.login["{user}"]')
        assert secret["name"] == f"event-pipeline-prod-db-login-{user}"
        version = one(plan, f'module.database.aws_secretsmanager_secret_version.login["{user}"]')
        assert version.get("secret_string") in (None, "")  # write-only: the password is not in the plan
    database_sg = one(plan, "module.database.aws_security_group.database")
    assert [rule["description"] for rule in database_sg["ingress"]] == ["PostgreSQL from the RDS Proxy"]
    proxy_sg = one(plan, "module.database.aws_security_group.proxy[0]")
    assert [(r["from_port"], r["to_port"]) for r in proxy_sg["ingress"]] == [(5432, 5432)]
    budget = one(plan, "terraform_data.connection_budget")["input"]
    assert budget["budget"] == 354
    assert budget["worst_case"]["error_sink"] == 32 * 2  # stream_on_demand_shards x parallelization


def test_qa_plan_with_a_database_has_no_proxy(planner: Planner) -> None:
    proc, plan = planner.plan(f"-var-file={ENVIRONMENTS / 'qa.tfvars'}", f"-var=aws_region={REGION}")
    assert plan is not None, proc.stderr
    assert not [r["address"] for r in resources(plan) if r["type"].startswith("aws_db_proxy")]
    assert not [r["address"] for r in resources(plan) if r["address"].startswith("module.database.aws_secretsmanager")]
    database_sg = one(plan, "module.database.aws_security_group.database")
    assert [rule["description"] for rule in database_sg["ingress"]] == ["PostgreSQL from the functions"]
