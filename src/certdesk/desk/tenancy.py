"""Tenancy: the one way a query is limited to the actor's tenant, and the statements the
desk builds once (here, and nowhere else).

A query of tenant-owned rows is limited with :meth:`Scope.scoped`: for a reseller it adds
``tenant_column = :certdesk_scope_tenant``, for an operator nothing. The tenant is never
written into a statement; it is always a bound parameter whose value comes from the actor
that runs it (:func:`tenant_params`). Use cases go through :meth:`Ctx.scoped
<certdesk.desk.context.Ctx.scoped>`, which binds it at once.

Building and hashing a SQLAlchemy statement costs as much as a quick query takes to run
(the API's listing: ~9 ms a request built every time, ~5 ms built once), so the hottest
statements are :func:`cached`: a module-level builder receives a :class:`Scope` and its
*shape* (flags and words such as ``by_owner`` or an urgency's label) and nothing else — no
context, no actor, no numbers. The statement is kept under ``(operator?, shape)``; what
varies is bound when :meth:`Cached.execute` runs it, the reseller's tenant added from the
actor by the runner itself. So a statement cannot carry one reseller's tenant to another:

- the builder is a plain function of its key (one that closes over anything is refused
  when it is registered, a shape holding anything but flags and words when it is built);
- a reseller's statement that does not bind ``:certdesk_scope_tenant`` is refused when it
  is built, and one run without its value fails in the database rather than leak;
- the caller's parameters may not name the tenant: only the runner does.

The lookups of a caller by a credential (a session cookie's or an API token's hash) are
built once here too, declared ``by_credential``: they run before anyone is known to act,
as the system (an operator), and are refused for a reseller.

``tests/desk/test_tenancy.py`` runs every registered statement, in every example shape,
as two resellers, and checks that neither sees the other's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import CompoundSelect, Result, Select, bindparam

if TYPE_CHECKING:
    from certdesk.desk.context import Actor, Ctx

SCOPE_TENANT = "certdesk_scope_tenant"

E = TypeVar("E", bound="Select[*tuple[Any, ...]] | CompoundSelect[*tuple[Any, ...]]")
S = TypeVar("S", bound="Select[*tuple[Any, ...]]")


@dataclass(frozen=True, slots=True)
class Scope:
    """What a query knows of its actor: an operator's sees every tenant, a reseller's only
    the tenant bound as ``:certdesk_scope_tenant``."""

    operator: bool

    @staticmethod
    def of(actor: Actor) -> Scope:
        return OPERATOR if actor.tenant_id is None else RESELLER

    def scoped(self, stmt: S, tenant_column: Any) -> S:
        """``stmt`` limited to the tenant bound later (nothing for an operator)."""
        if self.operator:
            return stmt
        return stmt.where(tenant_column == bindparam(SCOPE_TENANT))


OPERATOR = Scope(operator=True)
RESELLER = Scope(operator=False)


def tenant_params(actor: Actor) -> dict[str, Any]:
    """The parameter a reseller's scoped statement needs: its tenant (none for operators)."""
    return {} if actor.tenant_id is None else {SCOPE_TENANT: actor.tenant_id}


def scoped_now(stmt: S, tenant_column: Any, actor: Actor) -> S:
    """``stmt`` limited to ``actor``'s tenant, its value bound already: for a statement
    built for one request only."""
    if actor.tenant_id is None:
        return stmt
    scoped = Scope.of(actor).scoped(stmt, tenant_column)
    return scoped.params(tenant_params(actor))


Shape = tuple[Hashable, ...]

_REGISTERED: list[Cached[Any]] = []
_LIMIT = 256  # statements a builder keeps (a few per shape; bounded all the same)


class Cached(Generic[E]):
    """A statement built once per scope and shape by ``build(scope, *shape)``."""

    def __init__(
        self, build: Callable[..., E], examples: Sequence[Shape], *, by_credential: bool = False
    ):
        if build.__closure__:
            raise TypeError(
                f"the builder of a cached statement ({build.__qualname__}) must not close "
                "over anything: it receives its scope and shape, nothing else"
            )
        if not examples:
            raise TypeError(f"{build.__qualname__}: a cached statement needs example shapes")
        self.build = build
        self.name = f"{build.__module__}.{build.__qualname__}"
        self.examples = tuple(tuple(shape) for shape in examples)
        self.by_credential = by_credential
        self._built: dict[tuple[bool, Shape], E] = {}

    def statement(self, scope: Scope, shape: Shape) -> E:
        """The statement for ``scope`` and ``shape``, built at its first use."""
        key = (scope.operator, shape)
        found = self._built.get(key)
        if found is None:
            found = self._make(scope, shape)
            if len(self._built) >= _LIMIT:
                self._built.clear()
            self._built[key] = found
        return found

    def _make(self, scope: Scope, shape: Shape) -> E:
        if not _plain(shape):
            raise TypeError(
                f"{self.name}: a shape holds only flags and words ({shape!r}); "
                "numbers, times and ids are parameters"
            )
        stmt = self.build(scope, *shape)
        if not scope.operator and SCOPE_TENANT not in stmt.compile().params:
            raise TypeError(
                f"{self.name}: a reseller's statement must be limited with Scope.scoped"
            )
        return stmt

    def execute(
        self, ctx: Ctx, shape: Shape, params: Mapping[str, Any]
    ) -> Result[*tuple[Any, ...]]:
        """Run the statement of ``shape`` as ``ctx``'s actor with ``params`` (the runner
        adds the reseller's tenant)."""
        if SCOPE_TENANT in params:
            raise ValueError(f"{self.name}: the tenant is bound from the actor, not passed")
        actor = ctx.actor
        if self.by_credential and actor.tenant_id is not None:
            raise ValueError(f"{self.name}: a lookup by credential runs before a reseller acts")
        stmt = self.statement(Scope.of(actor), shape)
        return ctx.session.execute(stmt, {**params, **tenant_params(actor)})


def cached(
    *examples: Shape, by_credential: bool = False
) -> Callable[[Callable[..., E]], Cached[E]]:
    """Register ``build(scope, *shape)`` as a cached statement; ``examples`` are shapes it
    is built in (the tenancy test runs each as two resellers). One ``by_credential`` finds
    a caller by a credential and is run only by the system, before anyone acts."""

    def register(build: Callable[..., E]) -> Cached[E]:
        statement = Cached(build, examples, by_credential=by_credential)
        _REGISTERED.append(statement)
        return statement

    return register


def registered() -> tuple[Cached[Any], ...]:
    """Every cached statement of the desk (imported with it)."""
    return tuple(_REGISTERED)


def _plain(value: object) -> bool:
    if value is None or type(value) in (bool, str):
        return True
    return type(value) is tuple and all(_plain(v) for v in value)
