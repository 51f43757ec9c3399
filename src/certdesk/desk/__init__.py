"""The use cases of certdesk: one function per flow, each over a ``Ctx`` in one transaction.

No HTTP and no command line here: the interfaces parse their input, call these
functions through ``Desk.run`` and present the result.
"""

from certdesk.desk.context import (
    Actor,
    Conflict,
    Ctx,
    Desk,
    Duplicate,
    NotFound,
    OwnershipNotVerified,
    Policy,
    Refused,
)
from certdesk.desk.conversions import Converted, convert_pfx_to_pem, convert_to_pfx
from certdesk.desk.domains import (
    DomainView,
    Portal,
    add_domain,
    change_domain,
    count_domains,
    domain_overview,
    list_domains,
    remove_domain,
    search_domains,
    show_domain,
)
from certdesk.desk.export import Export, export_certificate
from certdesk.desk.history import (
    AuditPage,
    AuditView,
    RequestPage,
    RequestView,
    audit_page,
    get_request,
    list_audit,
    list_requests,
    requests_page,
)
from certdesk.desk.intake import SubmitResult, submit_pfx
from certdesk.desk.managed import ManagedView, list_managed, managed_state, managed_status
from certdesk.desk.modes import CertificateMode, ManagedState
from certdesk.desk.orders import (
    CompleteResult,
    OrderView,
    cancel_order,
    complete_order,
    list_orders,
    order_csr,
    renew,
    show_order,
)
from certdesk.desk.ownership import ClaimView, list_claims, show_claim
from certdesk.desk.served import ServedPage, ServedRow, served_overview
from certdesk.desk.statuses import OrderStatus, RequestStatus
from certdesk.desk.tenants import TenantView, add_tenant, change_tenant, list_tenants
from certdesk.desk.vaultops import RotateResult, rotate_master_key

__all__ = [
    "Actor",
    "AuditPage",
    "AuditView",
    "CertificateMode",
    "ClaimView",
    "CompleteResult",
    "Conflict",
    "Converted",
    "Ctx",
    "Desk",
    "DomainView",
    "Duplicate",
    "Export",
    "ManagedState",
    "ManagedView",
    "NotFound",
    "OrderStatus",
    "OrderView",
    "OwnershipNotVerified",
    "Policy",
    "Portal",
    "Refused",
    "RequestPage",
    "RequestStatus",
    "RequestView",
    "RotateResult",
    "ServedPage",
    "ServedRow",
    "SubmitResult",
    "TenantView",
    "add_domain",
    "add_tenant",
    "audit_page",
    "cancel_order",
    "change_domain",
    "change_tenant",
    "complete_order",
    "convert_pfx_to_pem",
    "convert_to_pfx",
    "count_domains",
    "domain_overview",
    "export_certificate",
    "get_request",
    "list_audit",
    "list_claims",
    "list_domains",
    "list_managed",
    "list_orders",
    "list_requests",
    "list_tenants",
    "managed_state",
    "managed_status",
    "order_csr",
    "remove_domain",
    "renew",
    "requests_page",
    "rotate_master_key",
    "search_domains",
    "served_overview",
    "show_claim",
    "show_domain",
    "show_order",
    "submit_pfx",
]
