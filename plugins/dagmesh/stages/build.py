"""build: the domain's models, in ``ref()`` order, into its private build schema.

Consumers never see the build schema; only ``certify`` publishes it. A model that
reads upstream ports first checks that those ports still hold the builds
``check_inputs`` resolved, so a build never mixes versions of an upstream.
"""

from __future__ import annotations

import time
from typing import Any

from dagmesh.config.model import Model
from dagmesh.engines.base import Session
from dagmesh.sql import statements as sql
from dagmesh.sql.statements import Relation
from dagmesh.stages.compile import DomainRelations, RefusedSql, compile_query
from dagmesh.stages.context import BuildContext, StageFailure
from dagmesh.templating.template import template_calls


def prepare(ctx: BuildContext) -> None:
    """Start from an empty build schema stamped with this build's id."""
    domain = ctx.domain.name
    with ctx.session("build") as session:
        ctx.check_config_unchanged(session)
        session.run_all(ctx.engine.reset_build_schema(domain))
        session.run_all(ctx.engine.marker(domain, ctx.build_id))


def build_model(ctx: BuildContext, model_name: str) -> int:
    """Build one model; returns its row count."""
    model = ctx.domain.model(model_name)
    if model is None:
        raise StageFailure(f"domain {ctx.domain.name} has no model '{model_name}'")
    text = ctx.project.read_sql(model.sql)
    if text is None:
        raise StageFailure(f"{ctx.project.sql_display_path(model.sql)} not found (model {model.name})")
    started = time.monotonic()
    with ctx.session("build") as session:
        ctx.check_config_unchanged(session)
        if template_calls(text).args("port"):
            verify_pinned_inputs(ctx, session)
        relation = ctx.engine.table(ctx.engine.build_schema(ctx.domain.name), model.name)
        if (
            model.materialized == "incremental"
            and not ctx.full_refresh
            and _has_previous(ctx, session, model)
        ):
            _merge_increment(ctx, session, model, text, relation)
        else:
            query = _compile(ctx, model, text, relation, incremental=False)
            session.run_all(ctx.engine.create_table_as(relation, query))
        rows = int(session.query(sql.count_rows(relation))[0][0])
        ctx.registry.record_model(
            session,
            ctx.build_id,
            ctx.domain.name,
            model.name,
            model.materialized,
            rows,
            time.monotonic() - started,
        )
    return rows


def _compile(ctx: BuildContext, model: Model, text: str, this: Relation, incremental: bool) -> Any:
    display = ctx.project.sql_display_path(model.sql)
    try:
        return compile_query(display, text, DomainRelations(ctx.engine, ctx.domain), this, incremental)
    except RefusedSql as exc:
        raise StageFailure(str(exc)) from exc


def _previous(ctx: BuildContext, model: Model) -> Relation:
    """The model's last certified table: published when it is a port, else in the state schema."""
    return ctx.engine.certified_table(ctx.domain.name, model.name, model.name in ctx.domain.outputs)


def _has_previous(ctx: BuildContext, session: Session, model: Model) -> bool:
    previous = _previous(ctx, model)
    assert previous.name is not None
    return ctx.engine.table_exists(session, previous.schema_relation, previous.name)


def _merge_increment(
    ctx: BuildContext, session: Session, model: Model, text: str, relation: Relation
) -> None:
    """Start from the published table, then replace rows whose unique key came in again."""
    engine = ctx.engine
    session.run_all(engine.copy_table(_previous(ctx, model), relation))
    staging = engine.table(engine.build_schema(ctx.domain.name), f"{model.name}__increment")
    query = _compile(ctx, model, text, relation, incremental=True)
    session.run_all(engine.create_table_as(staging, query))
    session.execute(sql.delete_matching(relation, staging, model.unique_key))
    session.execute(sql.insert_select(relation, sql.select_all(staging)))
    session.execute(sql.drop_table(staging))


def verify_pinned_inputs(ctx: BuildContext, session: Session) -> None:
    """Fail when an upstream re-certified after ``check_inputs`` resolved its build."""
    for row in ctx.registry.inputs(session, ctx.build_id):
        published = ctx.engine.published_build_id(session, row["upstream_domain"])
        if published != row["upstream_build_id"]:
            message = (
                f"{row['upstream_domain']} published build {published} after check_inputs resolved "
                f"build {row['upstream_build_id']}; re-run this domain to build from one version"
            )
            raise ctx.fail(session, message)
