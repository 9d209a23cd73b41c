"""What each stage guarantees, on a real DuckDB warehouse seeded with the example."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from dagmesh.stages import build, certify, check_inputs, test
from dagmesh.stages.context import StageFailure
from tests.helpers import build_until_tests, certify_domain, stage_context


def query(project: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(project / ".dagmesh" / "warehouse.duckdb")) as con:
        return con.execute(sql).fetchall()


def test_certify_refuses_a_build_whose_tests_did_not_run(seeded: Path) -> None:
    ctx = stage_context(seeded, "product")
    build_until_tests(ctx)
    with pytest.raises(certify.NotCertified, match=r"test\(s\) did not run: product\.product:row_count"):
        certify.certify(ctx)
    assert query(seeded, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'product'") == [
        (0,)
    ]
    assert query(seeded, "SELECT state FROM mesh_meta.builds") == [("failed",)]


def test_certify_publishes_once_even_when_its_task_is_retried(seeded: Path) -> None:
    first = certify_domain(seeded, "product")
    again = certify.certify(stage_context(seeded, "product"))
    assert first.published_now and not again.published_now
    assert again.certification.version == first.certification.version == 1
    assert query(seeded, "SELECT COUNT(*) FROM mesh_meta.certifications") == [(1,)]


def test_a_source_that_is_missing_fails_check_inputs_with_its_table_name(seeded: Path) -> None:
    query(seeded, "DROP TABLE raw_product.ndc_catalog")
    ctx = stage_context(seeded, "product")
    check_inputs.open_build(ctx)
    with pytest.raises(StageFailure, match=r"source RAW\.PRODUCT\.NDC_CATALOG cannot be read"):
        check_inputs.check_sources(ctx)


def test_a_stale_source_fails_its_freshness_check(seeded: Path) -> None:
    query(seeded, "UPDATE raw_product.ndc_catalog SET loaded_at = loaded_at - INTERVAL 9 DAY")
    ctx = stage_context(seeded, "product")
    check_inputs.open_build(ctx)
    stale = r"RAW\.PRODUCT\.NDC_CATALOG was last loaded 216\.\dh ago \(loaded_at\); error after 192h"
    with pytest.raises(StageFailure, match=stale):
        check_inputs.check_sources(ctx)


def test_a_freshness_column_the_source_does_not_have_is_named_with_its_config_line(seeded: Path) -> None:
    config = seeded / "dag_configs" / "mastered" / "product.yaml"
    config.write_text(
        config.read_text().replace("freshness: {column: loaded_at", "freshness: {column: load_at")
    )
    ctx = stage_context(seeded, "product")
    check_inputs.open_build(ctx)
    located = (
        r"dag_configs/mastered/product\.yaml:11:\d+: freshness column 'load_at' is not a column of source "
        r"RAW\.PRODUCT\.NDC_CATALOG"
    )
    with pytest.raises(StageFailure, match=located):
        check_inputs.check_sources(ctx)


def test_an_upstream_that_was_never_certified_stops_check_inputs(seeded: Path) -> None:
    certify_domain(seeded, "product")
    ctx = stage_context(seeded, "physician_dw")
    check_inputs.open_build(ctx)
    with pytest.raises(
        StageFailure, match=r"physician\.physician: domain physician has never been certified"
    ):
        check_inputs.resolve_upstreams(ctx)


@pytest.mark.parametrize("settles", [True, False], ids=["publish-settles", "publish-never-settles"])
def test_an_upstream_caught_between_publishing_and_certifying_is_read_again(
    seeded: Path, settles: bool
) -> None:
    """Its published tables name one build and its latest certification another, as while its
    certify commits: the consumer reads again, and fails only if that lasts."""
    certify_domain(seeded, "product")
    physician = certify_domain(seeded, "physician").certification.build_id
    query(seeded, "UPDATE physician.dagmesh_build SET build_id = 'physician-publishing'")
    ctx = stage_context(seeded, "physician_dw")
    check_inputs.open_build(ctx)
    if settles:  # put right after the first read, before the last
        restore = f"UPDATE physician.dagmesh_build SET build_id = '{physician}'"
        threading.Timer(2 * check_inputs.SETTLE_PAUSE_SECONDS, query, (seeded, restore)).start()
        (reads_physician, _) = sorted(check_inputs.resolve_upstreams(ctx), key=lambda i: i.port)
        assert reads_physician.upstream_build_id == physician
    else:
        stuck = (
            rf"physician\.physician: the published tables of physician hold build physician-publishing, "
            rf"not its latest certification {physician}"
        )
        with pytest.raises(StageFailure, match=stuck):
            check_inputs.resolve_upstreams(ctx)


def test_the_lineage_of_a_build_records_every_ancestor_version(seeded: Path) -> None:
    for domain in ("physician", "product", "physician_dw"):
        certify_domain(seeded, domain, run_id="r1")
    certify_domain(seeded, "physician", run_id="r2")
    dw = certify_domain(seeded, "physician_dw", run_id="r2")
    assert dw.certification.lineage == {"physician": 2, "product": 1}
    assert {i.port: i.upstream_version for i in dw.inputs} == {"physician.physician": 2, "product.product": 1}


def test_inputs_built_from_different_versions_of_a_shared_ancestor_are_inconsistent(seeded: Path) -> None:
    for domain in ("payer", "physician", "product", "payer_dw", "physician_dw"):
        certify_domain(seeded, domain, run_id="r1")
    certify_domain(seeded, "physician", run_id="r2")
    certify_domain(seeded, "physician_dw", run_id="r2")  # built from physician v2; payer_dw from v1
    ctx = stage_context(seeded, "launch_analytics")
    check_inputs.open_build(ctx)
    with pytest.raises(check_inputs.InputsInconsistent) as raised:
        check_inputs.resolve_upstreams(ctx)
    (problem,) = raised.value.inconsistencies
    assert problem.ancestor == "physician"
    assert problem.versions == {"physician_dw": 2, "payer_dw": 1}
    assert "payer_dw was built from physician v1, physician_dw was built from physician v2" in str(
        raised.value
    )


def test_a_build_never_reads_an_upstream_that_recertified_after_check_inputs(seeded: Path) -> None:
    certify_domain(seeded, "physician", run_id="r1")
    certify_domain(seeded, "product", run_id="r1")
    ctx = stage_context(seeded, "physician_dw", run_id="dw")
    check_inputs.open_build(ctx)
    check_inputs.resolve_upstreams(ctx)
    build.prepare(ctx)
    certify_domain(seeded, "physician", run_id="r2")
    with pytest.raises(
        StageFailure, match=r"physician published build physician-\w+ after check_inputs resolved"
    ):
        build.build_model(ctx, "dim_physician")


STAGING_MODEL = "  - {name: stg_rx_claims, sql: physician_dw/stg_rx_claims.sql}"


@pytest.mark.parametrize(
    "certified",
    ["physician_dw.fact_prescriptions", "physician_dw__state.stg_rx_claims"],
    ids=["a port", "a model kept in the state schema"],
)
def test_an_incremental_model_merges_recent_months_and_keeps_earlier_ones(
    seeded: Path, certified: str
) -> None:
    config = seeded / "dag_configs" / "integrated" / "physician_dw.yaml"
    incremental = STAGING_MODEL[:-1] + ", materialized: incremental, unique_key: [claim_id]}"
    config.write_text(config.read_text().replace(STAGING_MODEL, incremental))
    for domain in ("physician", "product", "physician_dw"):
        certify_domain(seeded, domain, run_id="r1")
    months_sql = f"SELECT COUNT(DISTINCT fill_month) FROM {certified}"
    (all_months,) = query(seeded, months_sql)[0]
    # Old claims disappear from the raw feed; an incremental run only recomputes recent months.
    query(seeded, "DELETE FROM raw_claims.rx_claims WHERE fill_date < DATE '2026-06-01'")
    certify_domain(seeded, "physician_dw", run_id="r2")
    assert query(seeded, months_sql) == [(all_months,)]
    certify_domain(seeded, "physician_dw", run_id="r3", full_refresh=True)
    assert query(seeded, months_sql)[0][0] < all_months


def test_failed_checks_are_recorded_and_certify_refuses_naming_each_one(seeded: Path) -> None:
    ctx = stage_context(seeded, "product")
    query(seeded, "UPDATE raw_product.ndc_catalog SET wac_price = -1 WHERE brand_name = 'Veltrexa'")
    build_until_tests(ctx)

    summary = test.run_port_checks(ctx, "product")

    assert [r.check.test_id for r in summary.blocking_failures] == ["product.product.wac_price:range"]
    assert "certify will not publish this build" in summary.conclusion()
    recorded = "SELECT status, observed FROM mesh_meta.test_results WHERE test_id = ?"
    with duckdb.connect(str(seeded / ".dagmesh" / "warehouse.duckdb")) as con:
        assert con.execute(recorded, ["product.product.wac_price:range"]).fetchall() == [("fail", "6")]
    with pytest.raises(certify.NotCertified) as refused:
        certify.certify(ctx)
    assert str(refused.value) == (
        "product is not certified: 1 blocking check(s) failed: product.product.wac_price:range"
    )
    passed = query(seeded, "SELECT COUNT(*) FROM mesh_meta.test_results WHERE status = 'pass'")[0][0]
    assert refused.value.details == [
        # with a sample of what failed: the six packages of the brand, all at -1
        "product.product.wac_price:range observed 6, expected = 0; sample: wac_price=-1.00 (6 rows)",
        f"{passed} other check(s) passed",  # the sources' and the port's
        "nothing has been published for product yet",
    ]


def test_a_killed_runs_build_is_marked_abandoned_by_the_next_run_of_its_domain(seeded: Path) -> None:
    killed = stage_context(seeded, "product", run_id="killed")
    check_inputs.open_build(killed)  # ...and its process dies here

    certify_domain(seeded, "product", run_id="next")

    rows = query(seeded, "SELECT run_id, state, message FROM mesh_meta.builds ORDER BY started_at")
    assert [(r[0], r[1]) for r in rows] == [("killed", "abandoned"), ("next", "certified")]
    assert "abandoned: its run stopped before finishing" in str(rows[0][2])


def test_a_task_that_finds_the_config_changed_since_the_run_began_stops(seeded: Path) -> None:
    ctx = stage_context(seeded, "product")
    check_inputs.open_build(ctx)
    config = seeded / "dag_configs" / "mastered" / "product.yaml"
    config.write_text(config.read_text().replace("owner: mdm-team", "owner: another-team"))
    later = stage_context(seeded, "product")  # the next task of the same run reads the files again

    with pytest.raises(
        StageFailure, match="the config of domain product changed while this run was in progress"
    ):
        build.prepare(later)
